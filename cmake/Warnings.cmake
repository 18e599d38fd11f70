# Warnings every cutover target is built with; CUTOVER_WERROR makes them errors.
add_library(cutover_warnings INTERFACE)
target_compile_options(cutover_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Wunused -Woverloaded-virtual -Wnull-dereference -Wimplicit-fallthrough
  $<$<BOOL:${CUTOVER_WERROR}>:-Werror>)
