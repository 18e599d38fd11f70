#pragma once

#include <filesystem>
#include <string>

namespace cutover::testing {

// A fresh folder under $TMPDIR, removed with everything in it when the object goes.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const {
    return path_ / name;
  }

 private:
  std::filesystem::path path_;
};

// Writes `content` to `file`, creating parent folders.
void writeFile(const std::filesystem::path& file, const std::string& content);
// Reads a whole file; empty if it cannot be read.
std::string readFile(const std::filesystem::path& file);

}  // namespace cutover::testing
