# Makes "registered" packages and artifacts in a depot, offline, as Pkg lays
# them out (../shared/JULIA.md), and a project that uses a chosen set of them,
# for scripts/bench-julia.
#   julia bench-julia-depot.jl DEPOT PROJECT RANGES ARTIFACTS
# Packages P<i> for i in RANGES ("0-94,100-104"), each the same bytes
# whatever the call (a second project shares the trees of the first): P<i>
# depends on P<(i-1)÷2> (i > 0), and names an artifact when i < ARTIFACTS.
using Pkg, UUIDs, Random
depot, project = ARGS[1], ARGS[2]
ids = sort(vcat([(r = parse.(Int, split(x, "-")); r[1]:r[end]) for x in split(ARGS[3], ",")]...))
nart = parse(Int, ARGS[4])
uuid(i) = UUID(UInt128(0xbe7c0000_0000_4000_8000_000000000000) + UInt128(i))
parent(i) = (i - 1) ÷ 2
dep(i) = i > 0 ? parent(i) : nothing
all(i -> dep(i) === nothing || dep(i) in ids, ids) || error("every package's dependency must be in the set")

function make_artifact(i)
    dir = mktempdir()
    mkpath(joinpath(dir, "lib"))
    rng = MersenneTwister(i)
    # half compressible (a table), half not (a binary)
    write(joinpath(dir, "lib", "table$i.txt"), join(string.(rand(rng, 1:1000, 150_000)), "\n"))
    write(joinpath(dir, "lib", "libdata$i.so"), rand(rng, UInt8, 800_000))
    sha = bytes2hex(Pkg.GitTools.tree_hash(dir))
    dest = joinpath(depot, "artifacts", sha)
    isdir(dest) ? rm(dir; recursive = true) : (mkpath(dirname(dest)); mv(dir, dest))
    sha
end

function make_package(i, art)
    name = "P$i"
    dir = mktempdir()
    mkpath(joinpath(dir, "src"))
    mkpath(joinpath(dir, "test"))
    d = dep(i)
    deps = d === nothing ? "" : "\n[deps]\nP$d = \"$(uuid(d))\"\n"
    write(joinpath(dir, "Project.toml"), "name = \"$name\"\nuuid = \"$(uuid(i))\"\nversion = \"1.0.$i\"\n$deps")
    art === nothing || write(joinpath(dir, "Artifacts.toml"), "[data$i]\ngit-tree-sha1 = \"$art\"\n")
    body = IOBuffer()
    println(body, "module $name")
    d === nothing || println(body, "using P$d")
    for f in 1:8
        println(body, "include(\"part$f.jl\")")
        open(joinpath(dir, "src", "part$f.jl"), "w") do io
            for k in 1:40
                call = d === nothing ? "x" : "P$d.f$(f)_$(k)(x)"
                println(io, "\"\"\"\n    f$(f)_$(k)(x)\n\nStep $k of part $f of $name.\n\"\"\"")
                println(io, "f$(f)_$(k)(x) = $call + $(k * f) * x - $(i + k)")
            end
        end
    end
    println(body, "export f1_1\nend")
    write(joinpath(dir, "src", "$name.jl"), String(take!(body)))
    rng = MersenneTwister(10_000 + i)
    write(joinpath(dir, "test", "runtests.jl"), "using $name, Test\n@test $name.f1_1(1) isa Int\n")
    write(joinpath(dir, "test", "reference.csv"), join(string.(rand(rng, 1:10^6, 8_000)), ",\n"))
    tree = Pkg.GitTools.tree_hash(dir)
    slug = Base.version_slug(uuid(i), Base.SHA1(tree))
    dest = joinpath(depot, "packages", name, slug)
    isdir(dest) ? rm(dir; recursive = true) : (mkpath(dirname(dest)); mv(dir, dest))
    bytes2hex(tree)
end

mkpath(project)
manifest = IOBuffer()
projdeps = IOBuffer()
for i in ids
    art = i < nart ? make_artifact(i) : nothing
    sha = make_package(i, art)
    d = dep(i)
    println(projdeps, "P$i = \"$(uuid(i))\"")
    println(manifest, "[[P$i]]")
    d === nothing || println(manifest, "deps = [\"P$d\"]")
    println(manifest, "git-tree-sha1 = \"$sha\"\nuuid = \"$(uuid(i))\"\nversion = \"1.0.$i\"\n")
end
write(joinpath(project, "Project.toml"), "[deps]\n" * String(take!(projdeps)))
write(joinpath(project, "Manifest.toml"), "# This file is machine-generated - editing it directly is not advised\n\n" *
      String(take!(manifest)))
println("made $(length(ids)) packages ($(count(<(nart), ids)) with an artifact) for $project")
