// distenv: the front end (everything lives in libdistenv).
#include <distenv/launch/launcher.hpp>

int main(int argc, char** argv) {
  return distenv::launch::main(argc, argv);
}
