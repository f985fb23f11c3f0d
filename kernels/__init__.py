"""OpenCL C templates. Installed as tinygradlike.kernels; tinygradlike.codegen fills them in."""
