-- wrk script for bench/run-wrk: each request submits a new job (unique
-- name per wrk thread and counter) that stays Pending (its selector matches
-- no node), so the figure is durable admission, not execution.
local threads = {}

function setup(thread)
    thread:set("tid", #threads + 1)
    table.insert(threads, thread)
end

function init(args)
    token = args[1]
    namespace = args[2]
    tid = wrk.thread:get("tid") or 0
    counter = 0
    headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
end

function request()
    counter = counter + 1
    local body = string.format(
        '{"kind":"Job","name":"w%d-%d","namespace":"%s",' ..
        '"resources":{"gpus":1,"cpu":2,"memory":"8Gi"},' ..
        '"selector":{"bench.gpuaas.io/never-matches":"yes"},' ..
        '"command":["python3","train.py"]}', tid, counter, namespace)
    return wrk.format("POST", "/v1/jobs", headers, body)
end
