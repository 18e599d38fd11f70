#include "cli/commands.h"

int main(int argc, char** argv) { return cutover::cli::runCli(argc, argv); }
