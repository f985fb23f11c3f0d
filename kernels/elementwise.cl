// {{NAME}}: an elementwise kernel. One work-item computes one element of each output.
// The body is the fused expression: every inlined node is one line, in dependency order,
// and every input is read through its view (strides, offset, validity mask) as index math.
{{HEADER}}
__kernel void {{NAME}}({{PARAMS}}) {
  const {{IDX}} gid = get_global_id(0);
{{GUARD}}
{{BODY}}
{{STORES}}
}
