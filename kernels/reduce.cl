// {{NAME}}: a reduction into {{OUTPUTS}} outputs of {{REDUCE_SIZE}} elements each.
// tgl_value(o, r) is the fused prologue (the element r of output o, computed from the inputs);
// tgl_result(acc, o) is the fused epilogue (what gets stored once the reduction is done), and
// TGL_STORE(o, value) writes it to out[o] (through vstore_half_rte for float16).
{{HEADER}}
{{FUNCTIONS}}

// TGL_ACCUMULATE(total, lost, part) adds one block's result to a running total. For float sums
// it is compensated (Kahan): the rounding error of each addition is kept in `lost` and fed back,
// so a long sum is as accurate as its blocks (a sum of 10^7 copies of 0.1f is off by ~1e-7,
// not 7e-4 as one running float sum). Once the total is inf or NaN the compensation stops, so
// inf stays inf rather than becoming inf - inf = NaN.
#if TGL_COMPENSATED
#define TGL_ACCUMULATE(total, lost, part) { \
    const {{ACC_T}} y_ = (part) - lost, t_ = total + y_; \
    lost = isfinite(t_) ? (t_ - total) - y_ : 0; total = t_; }
#else
#define TGL_ACCUMULATE(total, lost, part) total = {{COMBINE}}(total, part);
#endif
#define TGL_BLOCK 512

// Combine the elements [start, end) of output o, block by block. Within a block, eight
// independent accumulators break the dependency chain of one running sum, and when the eight
// reads are neighbours in memory the compiler turns them into one vector load and one vector add.
static inline {{ACC_T}} tgl_reduce_range({{IDX}} o, {{IDX}} start, {{IDX}} end{{FN_PARAMS}}) {
  {{ACC_T}} total = {{IDENTITY}}, lost = 0;
  for ({{IDX}} block = start; block < end; block += TGL_BLOCK) {
    const {{IDX}} stop = min(block + TGL_BLOCK, end);
    {{ACC_T}} a0 = {{IDENTITY}}, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    {{IDX}} r = block;
    for (; r + 8 <= stop; r += 8) {
      a0 = {{COMBINE}}(a0, tgl_value(o, r{{ARGS}}));
      a1 = {{COMBINE}}(a1, tgl_value(o, r + 1{{ARGS}}));
      a2 = {{COMBINE}}(a2, tgl_value(o, r + 2{{ARGS}}));
      a3 = {{COMBINE}}(a3, tgl_value(o, r + 3{{ARGS}}));
      a4 = {{COMBINE}}(a4, tgl_value(o, r + 4{{ARGS}}));
      a5 = {{COMBINE}}(a5, tgl_value(o, r + 5{{ARGS}}));
      a6 = {{COMBINE}}(a6, tgl_value(o, r + 6{{ARGS}}));
      a7 = {{COMBINE}}(a7, tgl_value(o, r + 7{{ARGS}}));
    }
    for (; r < stop; r++) a0 = {{COMBINE}}(a0, tgl_value(o, r{{ARGS}}));
    TGL_ACCUMULATE(total, lost, {{COMBINE}}({{COMBINE}}({{COMBINE}}(a0, a1), {{COMBINE}}(a2, a3)), {{COMBINE}}({{COMBINE}}(a4, a5), {{COMBINE}}(a6, a7))))
  }
  return total;
}

#if {{STRATEGY}} == 0
// Many outputs: one work-item per output walks its whole reduction.
__kernel void {{NAME}}({{PARAMS}}) {
  const {{IDX}} o = get_global_id(0);
  if (o < {{OUTPUTS}}) TGL_STORE(o, tgl_result(tgl_reduce_range(o, 0, {{REDUCE_SIZE}}{{ARGS}}), o{{ARGS}}));
}
#elif {{STRATEGY}} == 2
// Many outputs whose inputs are neighbours in memory while the reduced elements are far apart
// (a sum over the rows of a matrix): each work-item takes eight neighbouring outputs and
// walks the reduction for all eight in step, so each step reads eight neighbours.
__kernel void {{NAME}}({{PARAMS}}) {
  const {{IDX}} o = get_global_id(0) * 8;
  if (o + 8 <= {{OUTPUTS}}) {
    {{ACC_T}} s0 = {{IDENTITY}}, s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
    {{ACC_T}} l0 = 0, l1 = 0, l2 = 0, l3 = 0, l4 = 0, l5 = 0, l6 = 0, l7 = 0;
    for ({{IDX}} block = 0; block < {{REDUCE_SIZE}}; block += TGL_BLOCK) {
      const {{IDX}} stop = min(block + TGL_BLOCK, ({{IDX}}){{REDUCE_SIZE}});
      {{ACC_T}} a0 = {{IDENTITY}}, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
      for ({{IDX}} r = block; r < stop; r++) {
        a0 = {{COMBINE}}(a0, tgl_value(o, r{{ARGS}}));
        a1 = {{COMBINE}}(a1, tgl_value(o + 1, r{{ARGS}}));
        a2 = {{COMBINE}}(a2, tgl_value(o + 2, r{{ARGS}}));
        a3 = {{COMBINE}}(a3, tgl_value(o + 3, r{{ARGS}}));
        a4 = {{COMBINE}}(a4, tgl_value(o + 4, r{{ARGS}}));
        a5 = {{COMBINE}}(a5, tgl_value(o + 5, r{{ARGS}}));
        a6 = {{COMBINE}}(a6, tgl_value(o + 6, r{{ARGS}}));
        a7 = {{COMBINE}}(a7, tgl_value(o + 7, r{{ARGS}}));
      }
      TGL_ACCUMULATE(s0, l0, a0) TGL_ACCUMULATE(s1, l1, a1) TGL_ACCUMULATE(s2, l2, a2) TGL_ACCUMULATE(s3, l3, a3)
      TGL_ACCUMULATE(s4, l4, a4) TGL_ACCUMULATE(s5, l5, a5) TGL_ACCUMULATE(s6, l6, a6) TGL_ACCUMULATE(s7, l7, a7)
    }
    TGL_STORE(o, tgl_result(s0, o{{ARGS}}));
    TGL_STORE(o + 1, tgl_result(s1, o + 1{{ARGS}}));
    TGL_STORE(o + 2, tgl_result(s2, o + 2{{ARGS}}));
    TGL_STORE(o + 3, tgl_result(s3, o + 3{{ARGS}}));
    TGL_STORE(o + 4, tgl_result(s4, o + 4{{ARGS}}));
    TGL_STORE(o + 5, tgl_result(s5, o + 5{{ARGS}}));
    TGL_STORE(o + 6, tgl_result(s6, o + 6{{ARGS}}));
    TGL_STORE(o + 7, tgl_result(s7, o + 7{{ARGS}}));
  } else {
    for ({{IDX}} j = o; j < {{OUTPUTS}}; j++) TGL_STORE(j, tgl_result(tgl_reduce_range(j, 0, {{REDUCE_SIZE}}{{ARGS}}), j{{ARGS}}));
  }
}
#else
// Few outputs: {{GROUPS_PER_OUTPUT}} work-groups share each output, each taking a chunk of
// {{CHUNK}} elements. On a CPU a group is one work-item summing its chunk front to back;
// on a GPU a group's {{LOCAL}} work-items read neighbouring elements and then combine
// their sums in local memory. With several groups per output, each writes a partial
// result and bumps a counter; the group that finishes last combines the partials in a
// fixed order (so results are deterministic) and resets the counter for the next launch:
// one launch, no second pass.
__kernel void {{NAME}}({{PARAMS}}, __global {{ACC_T}}* partials, volatile __global int* counters) {
  __local {{ACC_T}} scratch[{{LOCAL}}];
  __local int is_last;
  const int lid = get_local_id(0);
  const {{IDX}} o = get_group_id(0) / {{GROUPS_PER_OUTPUT}};
  const {{IDX}} start = ({{IDX}})(get_group_id(0) % {{GROUPS_PER_OUTPUT}}) * {{CHUNK}};
  const {{IDX}} end = min(start + {{CHUNK}}, ({{IDX}}){{REDUCE_SIZE}});
#if {{LOCAL}} == 1
  {{ACC_T}} total = tgl_reduce_range(o, start, end{{ARGS}});
#else
  {{ACC_T}} acc = {{IDENTITY}};
  for ({{IDX}} r = start + lid; r < end; r += {{LOCAL}}) acc = {{COMBINE}}(acc, tgl_value(o, r{{ARGS}}));
  scratch[lid] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = {{LOCAL}} / 2; s > 0; s >>= 1) {
    if (lid < s) scratch[lid] = {{COMBINE}}(scratch[lid], scratch[lid + s]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  {{ACC_T}} total = scratch[0];
#endif
  if ({{GROUPS_PER_OUTPUT}} == 1) {
    if (lid == 0) TGL_STORE(o, tgl_result(total, o{{ARGS}}));
    return;
  }
  if (lid == 0) {
    partials[get_group_id(0)] = total;
    mem_fence(CLK_GLOBAL_MEM_FENCE);
    is_last = atomic_inc(&counters[o]) == {{GROUPS_PER_OUTPUT}} - 1;
  }
  barrier(CLK_LOCAL_MEM_FENCE);
  if (is_last && lid == 0) {
    mem_fence(CLK_GLOBAL_MEM_FENCE);
    {{ACC_T}} sum = {{IDENTITY}};
    for (int p = 0; p < {{GROUPS_PER_OUTPUT}}; p++) sum = {{COMBINE}}(sum, partials[o * {{GROUPS_PER_OUTPUT}} + p]);
    counters[o] = 0;
    TGL_STORE(o, tgl_result(sum, o{{ARGS}}));
  }
}
#endif
