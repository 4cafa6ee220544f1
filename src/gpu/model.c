/* The short GPU model used in labels and selectors, from the marketing name
 * the driver reports. Pure: no I/O.
 *
 * Rules: drop the brand prefixes ("NVIDIA ", "Tesla ", "GeForce ",
 * "Quadro "), take the first word and cut it at its first '-' (form factor
 * and memory: "A100-SXM4-40GB" -> "A100"). A first word without a digit is
 * a family ("RTX", "GTX", "TITAN"), so the next word joins it: "GeForce RTX
 * 4090" -> "RTX4090", "RTX A6000" -> "RTXA6000". Only letters and digits
 * are kept, so the result is always a valid label value. */
#include "gpu/gpu.h"

#include <stdbool.h>
#include <string.h>

static bool is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_space(char c) { return c == ' ' || c == '\t'; }

static const char *skip_spaces(const char *s)
{
    while (is_space(*s))
        s++;
    return s;
}

/* Length of the word at s, cut at a space or its first '-'. */
static size_t word_len(const char *s)
{
    size_t n = 0;
    while (s[n] && !is_space(s[n]) && s[n] != '-')
        n++;
    return n;
}

static bool has_digit(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] >= '0' && s[i] <= '9')
            return true;
    return false;
}

/* Appends the letters and digits of s[0..n) to out, keeping room for NUL. */
static void append_alnum(char *out, size_t out_size, size_t *len, const char *s, size_t n)
{
    for (size_t i = 0; i < n && *len + 1 < out_size; i++)
        if (is_alnum(s[i]))
            out[(*len)++] = s[i];
    out[*len] = '\0';
}

void gpu_model_from_name(const char *name, char *out, size_t out_size)
{
    static const char *const prefixes[] = {"NVIDIA ", "Tesla ", "GeForce ", "Quadro "};
    if (!out || out_size == 0)
        return;
    out[0] = '\0';
    if (!name)
        return;

    const char *s = skip_spaces(name);
    for (bool stripped = true; stripped;) {
        stripped = false;
        for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
            size_t n = strlen(prefixes[i]);
            if (strncmp(s, prefixes[i], n) == 0) {
                s = skip_spaces(s + n);
                stripped = true;
            }
        }
    }

    size_t len = 0;
    size_t n = word_len(s);
    append_alnum(out, out_size, &len, s, n);
    if (!has_digit(s, n)) {
        /* a family word: the model number is the next word */
        const char *next = s + strcspn(s, " \t");
        next = skip_spaces(next);
        append_alnum(out, out_size, &len, next, word_len(next));
    }
}
