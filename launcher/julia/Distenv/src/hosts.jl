# Host lists in the forms clusters write them, converted to plain names (a
# name never carries `slots=` or `:N` on to Distributed or to distenv).

"""
    hostlist(hosts) -> Vector{String}

The machines named by `hosts`, each once, in order: a vector of names (each may
be an Open MPI hostfile line, `"node1 slots=4"`, or `"node1:4"`), the path of a
file of such lines (`#` comments), or a SLURM node list (`"node[01-03,07],gpu1"`,
as `\$SLURM_JOB_NODELIST` holds it).
"""
function hostlist(hosts::AbstractVector)
    names = String[]
    for h in hosts
        for name in hostlist_entry(string(h))
            name in names || push!(names, name)
        end
    end
    return names
end

function hostlist(hosts::AbstractString)
    if isfile(hosts)
        return hostlist(filter(!isempty, [strip(first(split(l, '#'; limit = 2))) for l in eachline(hosts)]))
    end
    return hostlist(expand_nodelist(hosts))
end

# One hostfile line or name: its name alone.
function hostlist_entry(line::AbstractString)
    line = strip(first(split(line, '#'; limit = 2)))
    isempty(line) && return String[]
    name = first(split(line))  # "node1 slots=4 max_slots=8"
    name = first(split(name, ':'))  # "node1:4"
    return [String(name)]
end

# SLURM's compact form: "a[1-3,5],b" -> a1 a2 a3 a5 b (zero padding kept).
function expand_nodelist(list::AbstractString)
    names = String[]
    depth, start = 0, 1
    for (i, ch) in pairs(list)
        ch == '[' && (depth += 1)
        ch == ']' && (depth -= 1)
        if ch == ',' && depth == 0
            append!(names, expand_node(list[start:prevind(list, i)]))
            start = nextind(list, i)
        end
    end
    append!(names, expand_node(list[start:end]))
    return names
end

function expand_node(item::AbstractString)
    item = strip(item)
    isempty(item) && return String[]
    m = match(r"^([^\[]*)\[([^\]]*)\](.*)$", item)
    m === nothing && return [String(item)]
    prefix, ranges, rest = m.captures
    out = String[]
    for r in split(ranges, ',')
        bounds = split(r, '-')
        lo, hi = bounds[1], bounds[end]
        width = length(lo)
        for n in parse(Int, lo):parse(Int, hi)
            for tail in expand_node(rest)
                push!(out, string(prefix, lpad(n, width, '0'), tail))
            end
            isempty(rest) && push!(out, string(prefix, lpad(n, width, '0')))
        end
    end
    return out
end
