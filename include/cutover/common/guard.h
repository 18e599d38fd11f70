#pragma once

#include <exception>
#include <string_view>
#include <utility>

#include "cutover/common/result.h"

// Where an unexpected exception stops. Expected failures are Results; an exception is a bug or a
// library's surprise (an allocation failure, a JSON value of the wrong type). Every thread entry
// (an API request, an edge worker's event loop, a build job, a watch callback, a timer) runs its
// work through guarded(), so such an exception fails that one request or job, is logged once, and
// never ends the process.
namespace cutover {

// Logs "cutover: unexpected error in <where>: <what>" to stderr (the text escaped to UTF-8) and
// returns it as an io Error whose message is "unexpected error in <where>: <what>".
[[nodiscard]] Error reportUnexpected(std::string_view where,
                                     const std::exception_ptr& error) noexcept;

// Runs `work()`. An exception escaping it is reported (reportUnexpected) and returned as an
// error; nothing escapes.
template <class Work>
[[nodiscard]] Result<void> guarded(std::string_view where, Work&& work) noexcept {
  try {
    std::forward<Work>(work)();
    return {};
  } catch (...) {
    return tl::unexpected(reportUnexpected(where, std::current_exception()));
  }
}

}  // namespace cutover
