# Every dependency comes from a Debian package; scripts/install-deps installs them.
find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(LibArchive REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(tl-expected REQUIRED)
find_package(CLI11 REQUIRED)
find_package(fmt REQUIRED)
# The log (src/common/log.cc): spdlog, on Debian's fmt.
find_package(spdlog REQUIRED)
find_package(Boost 1.74 REQUIRED)
find_package(CURL REQUIRED)
# The S3 object store parses S3's XML answers with pugixml.
find_package(pugixml REQUIRED)
# Precompression at deploy time: brotli (no CMake config in Debian: pkg-config) and zlib for gzip.
find_package(ZLIB REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(BROTLI REQUIRED IMPORTED_TARGET libbrotlienc libbrotlidec)
# The Redis pointer store: hiredis (pkg-config only in Debian).
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
if(CUTOVER_TESTS)
  find_package(GTest REQUIRED)
endif()
