using Kernels, Utils
id = parse(Int, get(ENV, "DISTENV_WORKER", "0"))
println("worker $id: ", Kernels.run(id))
