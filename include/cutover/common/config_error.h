#pragma once

#include <stdexcept>

namespace cutover {

// A start-up or configuration error: main() prints it and exits with status 2.
// Never thrown on the request path or during a deploy.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace cutover
