#pragma once

#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>

namespace cutover {

// What went wrong, in the terms a caller branches on. The message says it to a person.
enum class Errc {
  not_found,         // the key, blob, manifest, site or file does not exist
  already_exists,    // a conditional create found the name taken
  conflict,          // a compare-and-set saw another value than expected
  invalid_argument,  // bad input from a user: a name, a path, a rules file
  bad_archive,       // an archive that is corrupt, truncated or hostile
  too_large,         // over a configured limit
  io,                // the disk or the network failed
  unavailable,       // a store could not be reached
  interrupted,       // stopped by a signal or a shutdown
};

std::string_view errcName(Errc code);

struct Error {
  Errc code;
  std::string message;

  // "conflict: site docs changed while deploying" — for logs and the command line.
  [[nodiscard]] std::string describe() const;
};

// The one alias for fallible results; a later move to std::expected changes only this line.
template <class T>
using Result = tl::expected<T, Error>;

[[nodiscard]] inline tl::unexpected<Error> fail(Errc code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}

// Errors from the C library: "<what>: <strerror(errnum)>", classified as io (or not_found for
// ENOENT).
[[nodiscard]] tl::unexpected<Error> failErrno(std::string what, int errnum);

}  // namespace cutover
