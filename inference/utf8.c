/* UTF-8 checks (utf8.h). */
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

static inline int is_trail(uint8_t b) { return (b & 0xC0) == 0x80; }

size_t bc_utf8_char_len(const uint8_t *s, size_t n) {
    uint8_t b0 = s[0];
    if (b0 < 0x80) return 1;
    if (n >= 2 && (b0 & 0xE0) == 0xC0) {
        uint32_t cp = ((uint32_t)(b0 & 0x1F) << 6) | (s[1] & 0x3F);
        if (is_trail(s[1]) && cp >= 0x80) return 2;
    } else if (n >= 3 && (b0 & 0xF0) == 0xE0) {
        uint32_t cp = ((uint32_t)(b0 & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        if (is_trail(s[1]) && is_trail(s[2]) && cp >= 0x800 && (cp < 0xD800 || cp >= 0xE000)) return 3;
    } else if (n >= 4 && (b0 & 0xF8) == 0xF0) {
        uint32_t cp = ((uint32_t)(b0 & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
                      ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
        if (is_trail(s[1]) && is_trail(s[2]) && is_trail(s[3]) && cp >= 0x10000 && cp <= 0x10FFFF) return 4;
    }
    return 0;
}

char *bc_utf8_dup_valid(const char *s) {
    const uint8_t *u = (const uint8_t *)s;
    size_t n = strlen(s), bad = 0;
    for (size_t i = 0; i < n;) {
        size_t k = bc_utf8_char_len(u + i, n - i);
        if (!k) bad++, k = 1;
        i += k;
    }
    char *out = malloc(n + 2 * bad + 1);   /* each bad byte: 1 -> 3 bytes */
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = bc_utf8_char_len(u + i, n - i);
        if (k) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    out[o] = '\0';
    return out;
}

size_t bc_utf8_cut(const char *s, size_t n, size_t max) {
    if (n <= max) return n;
    size_t len = max;
    while (len > 0 && is_trail((uint8_t)s[len])) len--;
    return len;
}
