# Spack recipe for distenv. Use it from a local repository:
#   spack repo create ~/spack-repo && mkdir -p ~/spack-repo/packages/distenv
#   cp packaging/spack/package.py ~/spack-repo/packages/distenv/ && spack repo add ~/spack-repo
#   spack install distenv@main     (set `git` below to where the repository is published)
# Untested here (no Spack on the build machine); the dependencies are those of
# the top-level CMakeLists.txt.

from spack.package import *


class Distenv(CMakePackage):
    """Ship a development environment (a Julia project with its dev packages, or
    any directory tree described by distenv.toml) to every machine of an MPI job,
    install it on local disk, run once-per-machine steps and start one worker per
    hardware thread with it active."""

    homepage = "https://github.com/distenv/distenv"
    git = "https://github.com/distenv/distenv.git"

    license("MIT")

    version("main", branch="main")

    variant("tests", default=False, description="Build and run the GoogleTest suite")

    depends_on("cxx", type="build")
    depends_on("cmake@3.25:", type="build")
    depends_on("pkgconfig", type="build")
    depends_on("help2man", type="build")
    depends_on("mpi")
    depends_on("boost@1.74: +mpi +filesystem")
    depends_on("tomlplusplus@3:")
    depends_on("libarchive")
    depends_on("zstd")
    depends_on("xxhash")
    depends_on("cli11@2:")
    depends_on("fmt@9:")
    depends_on("nlohmann-json")
    depends_on("googletest", type="build", when="+tests")
    depends_on("git", type="run")  # .gitignore is asked of git itself

    def cmake_args(self):
        return [self.define_from_variant("DISTENV_BUILD_TESTS", "tests")]
