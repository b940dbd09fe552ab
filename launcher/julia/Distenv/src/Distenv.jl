"""
    Distenv

Distributed.jl workers started by a distenv job: `addprocs(DistenvManager(hosts))`
installs the active project on every machine (one `distenv run` job, through
`mpirun`: no ssh of its own), starts one `julia --worker` per hardware thread
of each machine with the installed project active, and connects them back.
`@initcluster hosts` does that and activates the project here too;
`@eachmachine expr` runs `expr` once per machine.
"""
module Distenv

using Distributed, Sockets

export DistenvManager, @initcluster, @eachmachine, hostlist

include("hosts.jl")

"""
    DistenvManager(hosts=nothing; project, dest, workers=:auto, distenv, options=String[])

A `ClusterManager` whose `launch` runs one distenv job on `hosts` (a vector of
names, an Open MPI hostfile, a SLURM node list such as `"node[1-3],gpu01"`, or a
file of names: see [`hostlist`](@ref)); `nothing`: the nodes of the SLURM or PBS
allocation this runs in (mpirun starts the ranks through the scheduler), else
this machine. `project` (default: the active project's
directory) is installed into `dest` (default `\$DISTENV_DEST`, else
`/tmp/distenv-<user>`) on every machine; `workers` per machine (`:auto`: its
hardware threads); `distenv`: the launcher (default `\$DISTENV`, else `distenv` on
PATH); `options`: more `distenv run` options (`"--precompile"`, `"--offline"`, ...).
"""
struct DistenvManager <: ClusterManager
    hosts::Vector{String}  # empty: the allocation's nodes (or this machine)
    project::String
    dest::String
    workers::Union{Int,Symbol}
    distenv::String
    options::Vector{String}
    job::Ref{Any}      # the running `distenv run` process
    control::Ref{Any}  # its stdin: `signal WORKER SIGNAL` lines (--control-stdin)
end

function default_distenv()
    haskey(ENV, "DISTENV") && return ENV["DISTENV"]
    found = Sys.which("distenv")
    found === nothing && error("Distenv: no `distenv` on PATH (set ENV[\"DISTENV\"] to the launcher's path)")
    return found
end

function DistenvManager(hosts = nothing; project = nothing, dest = get(ENV, "DISTENV_DEST", ""),
                        workers = :auto, distenv = default_distenv(), options = String[])
    if project === nothing
        active = Base.active_project()
        active === nothing && error("Distenv: no active project: pass project=DIR")
        project = dirname(active)
    end
    isdir(project) || error("Distenv: project $project is not a directory")
    workers isa Symbol && workers !== :auto && error("Distenv: workers must be a number or :auto")
    names = hosts === nothing ? String[] : hostlist(hosts)
    hosts !== nothing && isempty(names) && error("Distenv: no hosts")
    DistenvManager(names, abspath(project), dest, workers, distenv, collect(String, options), Ref{Any}(nothing),
                   Ref{Any}(nothing))
end

Base.show(io::IO, m::DistenvManager) =
    print(io, "DistenvManager(", isempty(m.hosts) ? "the allocation" : join(m.hosts, ","), "; project=",
          repr(m.project), ")")

# The `distenv run` command: every worker first says how many there are,
# then becomes `julia --worker` (exec: the worker is its process group's
# leader, so a signal to the group reaches Julia alone), which reads the
# cookie from its stdin (a here-document, never a command line) and prints
# `julia_worker:PORT#IP`. The job's stdin carries the master's requests to
# signal one worker (`--control-stdin`: `interrupt`, `rmprocs`).
function job_command(m::DistenvManager, exename, exeflags)
    # PATH goes along, this Julia's bin first: the workers run the Julia the
    # master runs, at the same path (Distributed's own assumption), unless
    # `options` has --runtime ship.
    args = [m.distenv, "run", "-x", "PATH", "-p", m.project, "--control-stdin"]
    isempty(m.hosts) || append!(args, ["--hosts", join(m.hosts, ",")])
    isempty(m.dest) || append!(args, ["-d", m.dest])
    m.workers === :auto || append!(args, ["--workers", string(m.workers)])
    append!(args, m.options)
    script = "echo \"distenv-workers \$DISTENV_WORKERS\"\n" *
             "exec \"\$0\" \"\$@\" <<EOF\n\$JULIA_DISTENV_COOKIE\nEOF\n"
    worker = ["sh", "-c", script, basename(string(exename)), collect(exeflags.exec)..., "--worker"]
    return Cmd(vcat(args, "--", worker))
end

# `[host:N] text` -> (host, N, text); nothing for other lines.
function worker_line(line::AbstractString)
    m = match(r"^\[(.+):(\d+)\] (.*)$", line)
    m === nothing ? nothing : (String(m.captures[1]), parse(Int, m.captures[2]), String(m.captures[3]))
end

# `julia_worker:PORT#IP` -> (IP, PORT)
function worker_address(text::AbstractString)
    m = match(r"^julia_worker:(\d+)#(\S+)", text)
    m === nothing ? nothing : (String(m.captures[2]), parse(Int, m.captures[1]))
end

function Distributed.launch(m::DistenvManager, params::Dict, launched::Array, c::Condition)
    cmd = job_command(m, params[:exename], params[:exeflags])
    env = copy(ENV)
    env["JULIA_DISTENV_COOKIE"] = Distributed.cluster_cookie()
    env["PATH"] = Sys.BINDIR * ":" * get(ENV, "PATH", "/usr/bin:/bin")
    control, out, err = Pipe(), Pipe(), Pipe()
    job = run(pipeline(setenv(cmd, env), stdin = control, stdout = out, stderr = err), wait = false)
    close(control.out)
    close(out.in)
    close(err.in)
    m.job[], m.control[] = job, control
    errors = String[]
    errors_read = @async for line in eachline(err)
        println(stderr, line)  # distenv's progress and errors, as it prints them
        startswith(line, "distenv: error: ") && push!(errors, line[length("distenv: error: ")+1:end])
    end
    total, started = -1, 0
    while (total < 0 || started < total) && !eof(out)
        line = readline(out)
        w = worker_line(line)
        if w !== nothing && startswith(w[3], "distenv-workers ")
            total = parse(Int, split(w[3])[2])
        elseif w !== nothing && worker_address(w[3]) !== nothing
            host, port = worker_address(w[3])
            wc = WorkerConfig()
            wc.host, wc.port = host, port
            wc.userdata = (machine = w[1], worker = w[2])
            push!(launched, wc)
            started += 1
            notify(c)
        else
            println(stdout, line)
        end
    end
    if total < 0 || started < total
        wait(job)
        wait(errors_read)
        msg = isempty(errors) ? "the distenv job ended ($(job.exitcode)) before its workers started" :
              join(errors, "; ")
        error("Distenv: " * msg)
    end
    # The rest of the job's output (what the workers print, distenv's summary).
    @async begin
        for line in eachline(out)
            w = worker_line(line)
            println(stdout, w === nothing ? line : "      From worker on $(w[1]) ($(w[2])): $(w[3])")
        end
        wait(errors_read)
    end
    notify(c)
end

# Asks the rank that owns the worker of `config` to send it `signal`.
function signal_worker(m::DistenvManager, config::WorkerConfig, signal::AbstractString)
    data = config.userdata
    control = m.control[]
    (data isa NamedTuple && haskey(data, :worker) && control !== nothing && isopen(control)) || return false
    try
        write(control, "signal $(data.worker) $signal\n")
        flush(control)
        return true
    catch e
        e isa Base.IOError || rethrow()
        return false  # the job has ended: so has the worker
    end
end

# `interrupt(pid)`: SIGINT to the worker through its machine's rank (an
# InterruptException in the task it runs, as with local workers). The rest:
# the worker's own machine supervises it; an exit or a lost master ends it there.
function Distributed.manage(m::DistenvManager, id::Integer, config::WorkerConfig, op::Symbol)
    op === :interrupt && signal_worker(m, config, "INT")
    nothing
end

# How long `rmprocs` lets a worker act on its exit message before its rank
# ends it with SIGTERM.
const KILL_GRACE_SECONDS = 5.0

# `rmprocs(pid)`: the exit message, as for every manager; a worker busy in
# code that never yields does not read it, so its rank ends it after a grace.
function Distributed.kill(m::DistenvManager, pid::Int, config::WorkerConfig)
    remote_do(exit, pid)
    @async begin
        sleep(KILL_GRACE_SECONDS)
        haskey(Distributed.map_pid_wrkr, pid) && signal_worker(m, config, "TERM")
    end
    nothing
end

"""
    machines()

One worker per machine (the lowest-numbered), for per-machine steps.
"""
function machines()
    first = Dict{String,Int}()
    for pid in sort(workers())
        pid == 1 && continue
        config = Distributed.worker_from_id(pid).config
        data = config.userdata
        machine = data isa NamedTuple && haskey(data, :machine) ? data.machine : something(config.host, "")
        haskey(first, machine) || (first[machine] = pid)
    end
    return sort(collect(values(first)))
end

"""
    @eachmachine expr

Runs `expr` once on every machine (on one worker of each), as `@everywhere` runs it
on every worker: a data set made once per machine, a per-machine cache.
"""
macro eachmachine(ex)
    quote
        Distributed.remotecall_eval(Main, Distenv.machines(), $(QuoteNode(ex)))
    end
end

"""
    @initcluster [hosts] [key=value ...]

The seed package's macro: installs the active project on `hosts` (without: the
nodes of the SLURM or PBS allocation it runs in; compiled once per machine
class: `--precompile`), adds its workers and activates the project here too.
Keywords go to [`DistenvManager`](@ref).
"""
macro initcluster(args...)
    iskw(a) = a isa Expr && a.head === :(=)
    hosts = !isempty(args) && !iskw(args[1]) ? esc(args[1]) : nothing
    kwargs = [Expr(:kw, k.args[1], esc(k.args[2])) for k in filter(iskw, collect(args))]
    :(Distenv.initcluster($hosts; $(kwargs...)))
end

function initcluster(hosts = nothing; options = ["--precompile"], kw...)
    m = DistenvManager(hosts; options = options, kw...)
    pids = addprocs(m)
    Base.ACTIVE_PROJECT[] = joinpath(m.project, "Project.toml")
    return pids
end

end # module
