module Utils
square(x) = x * x
end
