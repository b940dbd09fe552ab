# Makes a "registered" package in a depot, offline, the way Pkg lays one out
# (../shared/JULIA.md): its tree at packages/<name>/<slug>, the slug from its
# UUID and git tree hash (Base.version_slug, Pkg.GitTools.tree_hash), and an
# artifact its Artifacts.toml names at artifacts/<git tree hash>.
#   julia make_depot.jl DEPOT NAME UUID GREETING
# prints "<package tree sha1> <slug> <artifact tree sha1>".
using Pkg, UUIDs
depot, name, uuid_text, greeting = ARGS
uuid = UUID(uuid_text)
art = mktempdir()
mkpath(joinpath(art, "share"))
write(joinpath(art, "share", "greeting.txt"), greeting * "\n")
symlink("greeting.txt", joinpath(art, "share", "link.txt"))
artifact_sha = bytes2hex(Pkg.GitTools.tree_hash(art))
mkpath(joinpath(depot, "artifacts"))
isdir(joinpath(depot, "artifacts", artifact_sha)) || mv(art, joinpath(depot, "artifacts", artifact_sha))
pkg = mktempdir()
mkpath(joinpath(pkg, "src"))
write(joinpath(pkg, "Project.toml"), "name = \"$name\"\nuuid = \"$uuid\"\nversion = \"0.1.0\"\n")
write(joinpath(pkg, "Artifacts.toml"), "[greeting]\ngit-tree-sha1 = \"$artifact_sha\"\n")
write(joinpath(pkg, "src", "$name.jl"), """
module $name
const H = "$artifact_sha"
# Where Julia's artifact"greeting" looks: artifacts/<hash> in each depot.
artifact() = first(filter(isdir, [joinpath(d, "artifacts", H) for d in DEPOT_PATH]))
hello() = strip(read(joinpath(artifact(), "share", "link.txt"), String))
end
""")
tree = Pkg.GitTools.tree_hash(pkg)
slug = Base.version_slug(uuid, Base.SHA1(tree))
dest = joinpath(depot, "packages", name, slug)
mkpath(dirname(dest))
mv(pkg, dest)
println(bytes2hex(tree), " ", slug, " ", artifact_sha)
