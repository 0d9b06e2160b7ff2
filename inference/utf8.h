/* UTF-8 checks shared by the tokenizer and the session store. */
#ifndef BC_UTF8_H
#define BC_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length of the valid UTF-8 character at s (n >= 1 bytes available), or 0
 * when it is not one -- SentencePiece's rules: no overlong forms, no
 * surrogates, nothing above U+10FFFF. */
size_t bc_utf8_char_len(const uint8_t *s, size_t n);

/* A malloc'd copy of s with every byte that does not start a valid
 * character replaced by U+FFFD; NULL when out of memory. Text that is
 * stored or emitted as YAML must be valid UTF-8 (libyaml's emitter does not
 * cope with anything else). */
char *bc_utf8_dup_valid(const char *s);

/* The largest length <= max at which s[0..len) ends on a character
 * boundary of the n-byte text s. */
size_t bc_utf8_cut(const char *s, size_t n, size_t max);

#endif
