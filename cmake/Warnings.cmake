# Warnings every cutover target is built with; CUTOVER_WERROR makes them errors.
add_library(cutover_warnings INTERFACE)
target_compile_options(cutover_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Wunused -Woverloaded-virtual -Wimplicit-fallthrough
  # Value types give every member a default, and `T{a, b}` relies on them for the rest.
  -Wno-missing-field-initializers
  # GCC 12 reports -Wrestrict inside libstdc++'s own std::string code at -O2/-O3
  # (gcc.gnu.org bug 105329); it is a false positive there, so it stays a warning only.
  $<$<CXX_COMPILER_ID:GNU>:-Wno-error=restrict>
  $<$<BOOL:${CUTOVER_WERROR}>:-Werror>)
