// matmul.cl: C[b, m, n] = EPILOGUE(sum_k A[b, m, k] * B[b, k, n]), in one kernel launch.
//
// tinygradlike.matmul_kernel.render_matmul fills in the five double-brace placeholders below
// by plain string substitution. Sizes, strides and offsets arrive as #defines, so the compiler
// sees constants: loop bounds are known, index arithmetic folds, dead branches vanish.
// Exactly one of the three kernels below is compiled, chosen by MATMUL_CPU / MATMUL_GPU /
// MATMUL_SIMPLE:
//
//   MATMUL_CPU     blocked like a BLAS library (GotoBLAS/BLIS) for CPU drivers such as PoCL.
//   MATMUL_GPU     local-memory tiles, shared by the work-items of a work-group (GPUs).
//   MATMUL_SIMPLE  one work-item per output element: the reference, used for double.
//
// All three read A and B through their strides, so transposed, sliced and broadcast
// (stride 0) operands work without a copy; the output C is contiguous.
// A and B are stored as IN_T and read with LOAD_IN (float16: `half`, read by vload_half into
// float, the compute type DTYPE); C is stored as OUT_T by STORE_OUT (vstore_half_rte for half).

{{PREAMBLE}}

{{DEFINES}}

// Element (m, k) of this batch's A, and (k, n) of B. A_BATCH_OFFSET(b) and B_BATCH_OFFSET(b)
// turn the flat batch index into the operands' batch offsets (0 for a broadcast batch).
#define A_AT(base, m, k) LOAD_IN(base, (m) * A_SM + (k) * A_SK)
#define B_AT(base, k, n) LOAD_IN(base, (k) * B_SK + (n) * B_SN)
#define A_PTR(base, m, k) ((base) + (m) * A_SM + (k) * A_SK)
#define B_PTR(base, k, n) ((base) + (k) * B_SK + (n) * B_SN)


#if defined(MATMUL_CPU)
// ---------------------------------------------------------------------------------------------
// CPU: one work-item per work-group, computing an MC x NC block of C (a "macro tile").
//
// PoCL runs a work-group on one core and loops over its work-items, so there is nothing to win
// from many work-items per group; the global size (macro tiles x batches) keeps all cores busy.
// Inside a group the loops are those of a BLAS library:
//
//   for each KC-long slice of K:                       (K blocking: the slice stays in cache)
//     pack B[k0:k0+KC, n0:n0+NC] into local memory    (contiguous NR-wide panels, zero padded)
//     for each NR-wide panel of the macro tile:        (the panel, KC x NR, stays in L1)
//       for each MR-high strip of rows:
//         micro kernel: an MR x NR block of C in registers, MR * NR/VW vector accumulators;
//         per k: NR/VW vector loads of the B panel, MR scalar loads of A (broadcast), and
//         MR * NR/VW fused multiply-adds.
//
// Why pack B: rows of B are N floats apart; when N is a power of two every row of a panel
// falls into the same few cache sets and they evict each other (this is why an unblocked
// register kernel dropped from ~50 to ~20 GFLOPS at 2048). The packed copy is contiguous.
// A is read in place: each strip of MR rows is MR sequential streams, already cache friendly,
// and any strides work. Partial sums of a macro tile wait in local memory (c_part) between
// K slices; the epilogue is applied once, after the last slice.
// On PoCL, __local memory of a work-group is a plain buffer of the core that runs it: no
// barriers are needed because the group has one work-item.

#define VEC_T   CONCAT(DTYPE, VW)           // e.g. float16
#define VLOAD   CONCAT(vload, VW)
#define CONCAT(a, b) CONCAT_(a, b)
#define CONCAT_(a, b) a##b
#define NV (NR / VW)                        // vectors per row of a micro tile

// The micro tile is unrolled by the preprocessor, not by loops over arrays, so that every
// compiler keeps it in registers (PoCL 3.0 left `VEC_T c[MR][NV]` in memory: 5x slower).
// FOR_EACH_ROW(X) is X(0) X(1) ... X(MR-1), FOR_EACH_VEC(X) is X(0) ... X(NV-1), and
// FOR_EACH_ACC(X) is X(i, v) for every row i and vector v; accumulator c<i>_<v> holds
// C[m0 + i0 + i, n0 + p + v*VW : ... + VW].
// Rows past M are clamped to the last row: they read valid memory and are never stored.
// The hot loop uses operators, not builtins: PoCL 3.0 (PyPI) calls vload/mad/min out of line.
#define A_ROW(i)         __global const IN_T* a_row##i = A_PTR(a_base, LAST_ROW(m0 + i0 + i), k0);
#define LAST_ROW(m)      ((m) < MAT_M ? (m) : MAT_M - 1)
#define ZERO_ACC(i, v)   VEC_T c##i##_##v = (VEC_T)0;
#define RESUME_ACC(i, v) c##i##_##v = c_part[((i0 + i) * NC + p) / VW + v];
#define PARK_ACC(i, v)   c_part[((i0 + i) * NC + p) / VW + v] = c##i##_##v;
#define SPILL_ACC(i, v)  tile[i * NV + v] = c##i##_##v;
#define LOAD_B(v)        const VEC_T b##v = panel[k * NV + v];
#define LOAD_A(i)        const VEC_T a##i = (VEC_T)(LOAD_IN(a_row##i, k * A_SK));
#define MAD_ACC(i, v)    c##i##_##v += a##i * b##v;  /* contracted to an FMA (-cl-mad-enable) */

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void {{NAME}}(__global OUT_T* restrict C, __global const IN_T* restrict A,
              __global const IN_T* restrict B{{EXTRA_PARAMS}}) {
  const int n0 = get_global_id(0) * NC;     // first column of this macro tile
  const int m0 = get_global_id(1) * MC;     // first row
  const int batch = get_global_id(2);
  __global const IN_T* a_base = A + A_OFFSET + A_BATCH_OFFSET(batch);
  __global const IN_T* b_base = B + B_OFFSET + B_BATCH_OFFSET(batch);

  // Local arrays of vectors are vector aligned. Panel p (columns n0+p .. n0+p+NR-1) holds
  // B[k0 + k, n0 + p + j] at float index p*KC + k*NR + j: each panel is one contiguous stream.
  __local VEC_T b_pack[KC * NC / VW];
#if K_BLOCKS > 1
  __local VEC_T c_part[MC * NC / VW];       // partial sums between K slices, row-major MC x NC
#endif

  for (int kb = 0; kb < K_BLOCKS; kb++) {
    const int k0 = kb * KC;
    const int kc = min(KC, MAT_K - k0);     // length of this slice (the last one may be short)

    // Pack this slice of B. Columns past N become zeros, so the micro kernel needs no checks.
    for (int p = 0; p < NC && n0 + p < MAT_N; p += NR) {
      __local DTYPE* dst = (__local DTYPE*)b_pack + p * KC;
      const int n = n0 + p;
#if B_SN == 1
      if (n + NR <= MAT_N) {                // a full panel of contiguous columns: vector copies
        for (int k = 0; k < kc; k++)
          for (int v = 0; v < NV; v++)
            b_pack[p * KC / VW + k * NV + v] = VLOAD_IN(0, B_PTR(b_base, k0 + k, n + v * VW));
        continue;
      }
#endif
      for (int k = 0; k < kc; k++)          // the general case: any stride, partial panels
        for (int j = 0; j < NR; j++)
          dst[k * NR + j] = (n + j < MAT_N) ? B_AT(b_base, k0 + k, n + j) : (DTYPE)0;
    }

    for (int p = 0; p < NC && n0 + p < MAT_N; p += NR) {
      __local const VEC_T* panel = b_pack + p * KC / VW;
      for (int i0 = 0; i0 < MC && m0 + i0 < MAT_M; i0 += MR) {
        FOR_EACH_ROW(A_ROW)
        FOR_EACH_ACC(ZERO_ACC)
#if K_BLOCKS > 1
        if (kb > 0) { FOR_EACH_ACC(RESUME_ACC) }
#endif
        // The micro kernel: registers only; each B vector feeds MR multiply-adds.
        for (int k = 0; k < kc; k++) {
          FOR_EACH_VEC(LOAD_B)
          FOR_EACH_ROW(LOAD_A)
          FOR_EACH_ACC(MAD_ACC)
        }
#if K_BLOCKS > 1
        if (kb < K_BLOCKS - 1) {            // not done: park the partial sums
          FOR_EACH_ACC(PARK_ACC)
          continue;
        }
#endif
        // Done: apply the epilogue element by element, store the rows and columns inside C.
        VEC_T tile[MR * NV];
        FOR_EACH_ACC(SPILL_ACC)
        for (int i = 0; i < MR && m0 + i0 + i < MAT_M; i++) {
          for (int j = 0; j < NR && n0 + p + j < MAT_N; j++) {
            const int oidx = batch * (MAT_M * MAT_N) + (m0 + i0 + i) * MAT_N + n0 + p + j;
            const DTYPE acc = ((DTYPE*)tile)[i * NR + j];
            STORE_OUT(C, oidx, {{EPILOGUE}});
          }
        }
      }
    }
  }
}
#endif  // MATMUL_CPU


#if defined(MATMUL_GPU)
// ---------------------------------------------------------------------------------------------
// GPU: a work-group of TS x TS work-items computes a TILE x TILE block of C (TILE = TS * WPT).
// Per KT-long slice of K, the group copies TILE x KT of A and KT x TILE of B into local memory
// (each element read from global memory once per group, with neighbouring work-items reading
// neighbouring addresses), waits at a barrier, and every work-item then accumulates its
// WPT x WPT outputs from the shared tiles. Outputs of one work-item are TS apart, so a row of
// the group touches TS consecutive addresses at every step. Out-of-range elements load as 0.
// (On PoCL's CPU driver this is slow: its barriers split the loop over work-items.)
#define TILE (TS * WPT)

__kernel __attribute__((reqd_work_group_size(TS, TS, 1)))
void {{NAME}}(__global OUT_T* restrict C, __global const IN_T* restrict A,
              __global const IN_T* restrict B{{EXTRA_PARAMS}}) {
  const int tx = get_local_id(0), ty = get_local_id(1);
  const int n0 = get_group_id(0) * TILE, m0 = get_group_id(1) * TILE;
  const int batch = get_global_id(2);
  __global const IN_T* a_base = A + A_OFFSET + A_BATCH_OFFSET(batch);
  __global const IN_T* b_base = B + B_OFFSET + B_BATCH_OFFSET(batch);

  __local DTYPE a_tile[KT][TILE + 1];       // a_tile[k][m]; +1 staggers the banks
  __local DTYPE b_tile[KT][TILE + 1];       // b_tile[k][n]
  DTYPE acc_reg[WPT][WPT];
  for (int i = 0; i < WPT; i++)
    for (int j = 0; j < WPT; j++) acc_reg[i][j] = 0;

  for (int k0 = 0; k0 < MAT_K; k0 += KT) {
    for (int e = ty * TS + tx; e < TILE * KT; e += TS * TS) {
      const int am = e / KT, ak = e % KT;   // consecutive e: consecutive k of one row of A
      a_tile[ak][am] = (m0 + am < MAT_M && k0 + ak < MAT_K)
                       ? A_AT(a_base, m0 + am, k0 + ak) : (DTYPE)0;
      const int bk = e / TILE, bn = e % TILE;  // consecutive e: consecutive n of one row of B
      b_tile[bk][bn] = (k0 + bk < MAT_K && n0 + bn < MAT_N)
                       ? B_AT(b_base, k0 + bk, n0 + bn) : (DTYPE)0;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int k = 0; k < KT; k++) {
      DTYPE b_reg[WPT];
      for (int j = 0; j < WPT; j++) b_reg[j] = b_tile[k][tx + j * TS];
      for (int i = 0; i < WPT; i++) {
        const DTYPE a_val = a_tile[k][ty + i * TS];
        for (int j = 0; j < WPT; j++) acc_reg[i][j] += a_val * b_reg[j];
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }

  for (int i = 0; i < WPT; i++) {
    const int m = m0 + ty + i * TS;
    for (int j = 0; j < WPT; j++) {
      const int n = n0 + tx + j * TS;
      if (m < MAT_M && n < MAT_N) {
        const int oidx = batch * (MAT_M * MAT_N) + m * MAT_N + n;
        const DTYPE acc = acc_reg[i][j];
        STORE_OUT(C, oidx, {{EPILOGUE}});
      }
    }
  }
}
#endif  // MATMUL_GPU


#if defined(MATMUL_SIMPLE)
// ---------------------------------------------------------------------------------------------
// The reference: one work-item per element of C, a plain dot product. Slow but obviously right;
// used for double (float64 gradient checks) and wherever the blocked kernels do not fit.
__kernel void {{NAME}}(__global OUT_T* restrict C, __global const IN_T* restrict A,
                       __global const IN_T* restrict B{{EXTRA_PARAMS}}) {
  const int n = get_global_id(0), m = get_global_id(1), batch = get_global_id(2);
  __global const IN_T* a_base = A + A_OFFSET + A_BATCH_OFFSET(batch);
  __global const IN_T* b_base = B + B_OFFSET + B_BATCH_OFFSET(batch);
  DTYPE acc = 0;
  for (int k = 0; k < MAT_K; k++) acc += A_AT(a_base, m, k) * B_AT(b_base, k, n);
  const int oidx = batch * (MAT_M * MAT_N) + m * MAT_N + n;
  STORE_OUT(C, oidx, {{EPILOGUE}});
}
#endif  // MATMUL_SIMPLE
