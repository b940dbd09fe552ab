# The package's own tests: what runs without a cluster (host lists, the
# job's command line, the lines a distenv job prints). The cluster tests
# (tests/integration/run.py cluster_julia_distenv_manager_*) start real
# workers on the virtual cluster.
using Distenv, Distributed, Test

@testset "host lists" begin
    @test hostlist(["node1 slots=2", "node2:4", "node1", "# a comment", ""]) == ["node1", "node2"]
    @test hostlist("node[01-03,07],gpu1") == ["node01", "node02", "node03", "node07", "gpu1"]
    @test hostlist("a[1-2]-ib,b") == ["a1-ib", "a2-ib", "b"]
    @test hostlist("single") == ["single"]
    mktempdir() do dir
        file = joinpath(dir, "hosts")
        write(file, "# Open MPI hostfile\nnode1 slots=2 max_slots=4\nnode2 slots=2\n\nnode3\n")
        @test hostlist(file) == ["node1", "node2", "node3"]
    end
end

@testset "the job's command" begin
    mktempdir() do project
        m = DistenvManager(["node1 slots=2", "node2"]; project = project, dest = "/scratch/d", workers = 3,
                           distenv = "/opt/distenv/bin/distenv", options = ["--precompile"])
        cmd = Distenv.job_command(m, "/usr/bin/julia", `--threads=2`)
        args = cmd.exec
        @test args[1:6] == ["/opt/distenv/bin/distenv", "run", "-x", "PATH", "-p", project]
        @test args[findfirst(==("--hosts"), args)+1] == "node1,node2"
        @test "--precompile" in args && args[findfirst(==("--workers"), args)+1] == "3"
        @test !any(a -> occursin("slots", a), args)  # never passed on
        worker = args[findfirst(==("--"), args)+1:end]
        @test worker[1:2] == ["sh", "-c"] && worker[4:end] == ["julia", "--threads=2", "--worker"]
        @test !any(a -> occursin(Distributed.cluster_cookie(), a), args)  # the cookie goes through stdin
        @test "--control-stdin" in args  # interrupt and rmprocs reach a worker through its rank
        # The worker's shell says how many workers there are, then becomes the
        # program (exec: one process), the cookie on its stdin.
        script = worker[3]
        env = Dict("DISTENV_WORKERS" => "6", "JULIA_DISTENV_COOKIE" => "secret-cookie", "PATH" => ENV["PATH"])
        @test read(setenv(`sh -c $script cat`, env), String) == "distenv-workers 6\nsecret-cookie\n"
        worker_shell = open(setenv(`sh -c $script sh -c 'echo $$'`, env))
        shell_pid = getpid(worker_shell)
        @test split(read(worker_shell, String)) == ["distenv-workers", "6", string(shell_pid)]
    end
    @test_throws ErrorException DistenvManager(String[]; project = tempdir(), distenv = "distenv")
    # No hosts: the allocation's nodes, as `distenv run` without hosts takes them.
    inside = DistenvManager(; project = tempdir(), distenv = "distenv")
    @test !("--hosts" in Distenv.job_command(inside, "julia", ``).exec)
    @test macroexpand(Distenv, :(@initcluster workers = 2)).args[3] === nothing  # hosts: the allocation
end

@testset "the job's lines" begin
    @test Distenv.worker_line("[node2:5] julia_worker:9011#10.0.0.2") == ("node2", 5, "julia_worker:9011#10.0.0.2")
    @test Distenv.worker_line("distenv: 3 machines") === nothing
    @test Distenv.worker_address("julia_worker:9011#10.0.0.2") == ("10.0.0.2", 9011)
    @test Distenv.worker_address("hello") === nothing
end
