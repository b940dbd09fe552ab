module Kernels
using Utils
run(i) = Utils.square(i)
end
