// distenv-bootstrap: everything lives in libdistenv.
#include <distenv/run.hpp>

int main(int argc, char** argv) {
  return distenv::run(argc, argv);
}
