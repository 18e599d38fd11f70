#pragma once

#include <string_view>

namespace cutover::edge {

// The forms a response body can take: the file as stored, or one of its precompressed forms.
enum class ContentCoding { identity, br, gzip };

// Which precompressed forms a file has (FileEntry::br / FileEntry::gzip present).
struct AvailableForms {
  bool br = false;
  bool gzip = false;
};

// Picks the form to send for an Accept-Encoding field value (RFC 9110 §12.5.3), given the forms
// the file has. An empty value (or no header: pass "") gets identity.
//
// - Weights (`;q=0.5`) are honoured; a coding with q=0 is never chosen. Tokens are
//   case-insensitive, `x-gzip` is `gzip`, `*` stands for every coding not named.
// - Among the acceptable forms the highest weight wins; on a tie brotli (smaller) beats gzip.
// - A compressed form beats identity unless identity is given a strictly higher weight
//   explicitly (`identity;q=1, gzip;q=0.5`): a client that lists a coding wants it.
// - When nothing else is acceptable the answer is identity, even after `identity;q=0`: the
//   file as stored is better than no answer, and it is what common servers send.
// - Malformed members (a bad weight, a bad token) are skipped; a coding named twice keeps its
//   lower weight, so a refusal is never overridden.
//
// Allocates nothing; safe on the request path.
[[nodiscard]] ContentCoding chooseEncoding(std::string_view accept_encoding,
                                           AvailableForms available);

// The Content-Encoding value for a coding: "br", "gzip", or "" for identity (send no header).
[[nodiscard]] std::string_view contentEncodingName(ContentCoding coding);

}  // namespace cutover::edge
