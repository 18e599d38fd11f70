#include "common/percent.h"

namespace cutover {

bool percentDecode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int high = hexValue(in[i + 1]);
    int low = hexValue(in[i + 2]);
    if (high < 0 || low < 0) return false;
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return true;
}

std::optional<std::string> percentDecode(std::string_view in) {
  std::string out;
  if (!percentDecode(in, out)) return std::nullopt;
  return out;
}

}  // namespace cutover
