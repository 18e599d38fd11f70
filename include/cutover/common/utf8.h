#pragma once

#include <cstddef>
#include <string>
#include <string_view>

// User text (file names, sources, header values) on its way into JSON, logs and messages: JSON
// holds only well-formed UTF-8, so text is clipped on character boundaries and bytes that are not
// UTF-8 are shown escaped, never passed on as they are.
namespace cutover {

// Whether `text` is well-formed UTF-8 (no stray continuation bytes, overlong forms, surrogates or
// code points past U+10FFFF).
[[nodiscard]] bool isValidUtf8(std::string_view text);

// The length in bytes (1 to 4) of the well-formed character `text` starts with, or 0 if it does
// not start with one (or is empty).
[[nodiscard]] std::size_t utf8CharacterLength(std::string_view text);

// The longest prefix of `text` of at most `max_bytes` that does not end inside a character: what
// substr(0, max_bytes) should have been for text a person reads.
[[nodiscard]] std::string_view clipUtf8(std::string_view text, std::size_t max_bytes);

// `text` with every byte that is not part of well-formed UTF-8 written as "\xE9" (and a
// backslash as "\\" only when such bytes occur, so valid text comes back unchanged). The result
// is always valid UTF-8.
[[nodiscard]] std::string escapeInvalidUtf8(std::string_view text);

}  // namespace cutover
