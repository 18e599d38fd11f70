#include <string>

#include "cutover/pointer/pointer_store.h"

namespace cutover {

Result<void> validatePointerKey(std::string_view key) {
  if (key.empty()) return fail(Errc::invalid_argument, "pointer key is empty");
  if (key.size() > kMaxPointerKeyBytes) {
    return fail(Errc::invalid_argument,
                "pointer key is " + std::to_string(key.size()) + " bytes, over the limit of 512");
  }
  for (char c : key) {
    if (c < 0x20 || c > 0x7e) {
      return fail(Errc::invalid_argument,
                  "pointer key contains a byte that is not printable ASCII");
    }
  }
  return {};
}

Result<void> validatePointerWrite(std::string_view key, const std::optional<std::string>& desired) {
  if (auto valid = validatePointerKey(key); !valid) return valid;
  if (desired && desired->size() > kMaxPointerValueBytes) {
    return fail(Errc::invalid_argument, "value for " + std::string(key) + " is " +
                                            std::to_string(desired->size()) +
                                            " bytes, over the limit of 64 KiB");
  }
  return {};
}

}  // namespace cutover
