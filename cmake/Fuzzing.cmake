# CUTOVER_FUZZ builds the libFuzzer targets in fuzz/ (clang only): every library is instrumented
# for coverage and checked by ASan and UBSan; only the targets link libFuzzer's main.
if(CUTOVER_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CUTOVER_FUZZ needs clang (libFuzzer); use the fuzz preset")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
endif()
