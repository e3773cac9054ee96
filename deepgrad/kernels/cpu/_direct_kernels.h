/* The kernels of _direct.c for one element type: included once per type, with T (the type) and
   NAME(x) (x with the type's suffix) defined. Offsets and strides are in elements. */
typedef T NAME(vec) __attribute__((vector_size(VECTOR_BYTES)));
#define VL ((long)(VECTOR_BYTES / sizeof(T)))

static inline NAME(vec) NAME(load)(const T *p) { NAME(vec) v; memcpy(&v, p, sizeof v); return v; }

/* out[o + q, p, n : n + 2·VL] for q < ob, the sum over channels [c0, c1) added to what out holds
   unless c0 = 0, and over taps tap_ids[j0 : j1] (all taps if tap_ids is NULL); weights of outputs past
   the last are clamped to it (computed, not stored). Inlined with a constant ob, so that the ob × 2
   accumulators live in registers. */
static inline __attribute__((always_inline)) void NAME(conv_block)(
        const T *x, const T *w, T *out, long channels, long c0, long c1, long taps_n, long x_cstride,
        long base, const long *taps, const long *tap_ids, long j0, long j1, long outputs, long positions,
        long lanes, long o, long p, long n, const int ob) {
    NAME(vec) acc[OUT_BLOCK][2];
    const T *wq[OUT_BLOCK];
    for (int q = 0; q < ob; q++) {
        T *d = out + ((o + q < outputs ? o + q : outputs - 1) * positions + p) * lanes + n;
        acc[q][0] = c0 ? NAME(load)(d) : (NAME(vec)){0};
        acc[q][1] = c0 ? NAME(load)(d + VL) : (NAME(vec)){0};
        wq[q] = w + (o + q < outputs ? o + q : outputs - 1) * channels * taps_n;
    }
    for (long c = c0; c < c1; c++) {
        const T *xc = x + c * x_cstride + base + n;
        for (long j = j0; j < j1; j++) {
            long t = tap_ids ? tap_ids[j] : j;
            NAME(vec) v0 = NAME(load)(xc + taps[t]), v1 = NAME(load)(xc + taps[t] + VL);
            for (int q = 0; q < ob; q++) {
                T wv = wq[q][c * taps_n + t];
                acc[q][0] += v0 * wv;
                acc[q][1] += v1 * wv;
            }
        }
    }
    for (int q = 0; q < ob && o + q < outputs; q++) {
        T *d = out + ((o + q) * positions + p) * lanes + n;
        memcpy(d, &acc[q][0], sizeof acc[q][0]);
        memcpy(d + VL, &acc[q][1], sizeof acc[q][1]);
    }
}

/* Positions [p0, p1) of out[o, p, n] = Σ_c,t w[o, c, t] · x[c·x_cstride + bases[p] + taps[t] + n], the
   sum over all taps, or where tap_first is not NULL, over t = tap_ids[j] for j in [tap_first[p], tap_first[p + 1]).
   Channels are taken in chunks whose windows fit in L1 (CHUNK_BYTES), each chunk for every output. */
CLONES void NAME(conv)(const T *x, const T *w, T *out, long channels, long taps_n, long x_cstride,
                       const long *bases, const long *taps, const long *tap_first, const long *tap_ids,
                       long outputs, long positions, long lanes, long p0, long p1) {
    long chunk = CHUNK_BYTES / (taps_n * 2 * VECTOR_BYTES);
    chunk = chunk < 1 ? 1 : chunk;
    for (long p = p0; p < p1; p++)
        for (long n = 0; n < lanes; n += 2 * VL)
            for (long c0 = 0; c0 < channels; c0 += chunk) {
                long c1 = c0 + chunk < channels ? c0 + chunk : channels;
                long j0 = tap_first ? tap_first[p] : 0, j1 = tap_first ? tap_first[p + 1] : taps_n;
                for (long o = 0; o < outputs; o += OUT_BLOCK) {
                    long left = outputs - o;     /* the last block: the smallest instance that covers it */
#define BLOCK(ob) NAME(conv_block)(x, w, out, channels, c0, c1, taps_n, x_cstride, bases[p], taps, tap_ids, \
                                   j0, j1, outputs, positions, lanes, o, p, n, ob)
                    if (left >= 5) BLOCK(6); else if (left >= 3) BLOCK(4); else if (left == 2) BLOCK(2); else BLOCK(1);
#undef BLOCK
                }
            }
}

/* dw[o + q, c, t + u] for q < OUT_BLOCK_W, u < TAP_BLOCK, the sum over positions [p0, p1) added to
   what dw holds; outputs and taps past the last are clamped to it (computed, not stored). */
static inline __attribute__((always_inline)) void NAME(weight_block)(
        const T *x, const T *g, T *dw, long channels, long taps_n, long x_cstride, const long *bases,
        const long *taps, long outputs, long positions, long lanes, long p0, long p1, long o, long c, long t) {
    NAME(vec) acc[OUT_BLOCK_W][TAP_BLOCK];
    const T *gq[OUT_BLOCK_W];
    long tap[TAP_BLOCK];
    for (int q = 0; q < OUT_BLOCK_W; q++) {
        for (int u = 0; u < TAP_BLOCK; u++) acc[q][u] = (NAME(vec)){0};
        gq[q] = g + (o + q < outputs ? o + q : outputs - 1) * positions * lanes;
    }
    for (int u = 0; u < TAP_BLOCK; u++) tap[u] = c * x_cstride + taps[t + u < taps_n ? t + u : taps_n - 1];
    for (long p = p0; p < p1; p++)
        for (long n = 0; n < lanes; n += VL) {
            NAME(vec) xv[TAP_BLOCK];
            for (int u = 0; u < TAP_BLOCK; u++) xv[u] = NAME(load)(x + bases[p] + tap[u] + n);
            for (int q = 0; q < OUT_BLOCK_W; q++) {
                NAME(vec) gv = NAME(load)(gq[q] + p * lanes + n);
                for (int u = 0; u < TAP_BLOCK; u++) acc[q][u] += gv * xv[u];
            }
        }
    for (int q = 0; q < OUT_BLOCK_W && o + q < outputs; q++)
        for (int u = 0; u < TAP_BLOCK && t + u < taps_n; u++) {
            T sum = acc[q][u][0];
            for (int i = 1; i < VL; i++) sum += acc[q][u][i];
            dw[((o + q) * channels + c) * taps_n + t + u] += sum;
        }
}

/* dw[o, c, t] = Σ_p,n g[o, p, n] · x[c·x_cstride + bases[p] + taps[t] + n] over positions [p0, p1).
   Positions are taken in chunks whose gradient rows for one block of outputs fit in L1 (CHUNK_BYTES). */
CLONES void NAME(conv_weight)(const T *x, const T *g, T *dw, long channels, long taps_n, long x_cstride,
                              const long *bases, const long *taps, long outputs, long positions, long lanes,
                              long p0, long p1) {
    long chunk = CHUNK_BYTES / (OUT_BLOCK_W * lanes * (long)sizeof(T));
    chunk = chunk < 1 ? 1 : chunk;
    memset(dw, 0, outputs * channels * taps_n * sizeof(T));
    for (long a = p0; a < p1; a += chunk) {
        long b = a + chunk < p1 ? a + chunk : p1;
        for (long o = 0; o < outputs; o += OUT_BLOCK_W)
            for (long c = 0; c < channels; c++)
                for (long t = 0; t < taps_n; t += TAP_BLOCK)
                    NAME(weight_block)(x, g, dw, channels, taps_n, x_cstride, bases, taps, outputs, positions,
                                       lanes, a, b, o, c, t);
    }
}

/* Rows [r0, r1) between an array and the batch-last layout: element (i, w) of row r lives at
   array[i·stride + rows[r] + w] and at lanes_buf[lane_rows[r] + w·lanes + i], for i < n, w < width.
   16 images at a time: 16 streams to read, whole cache lines to write. */
CLONES void NAME(move_lanes)(T *array, T *lanes_buf, long n, long stride, long width, const long *rows,
                             const long *lane_rows, long lanes, long r0, long r1, int into_lanes) {
    for (long i0 = 0; i0 < n; i0 += 16)
        for (long r = r0; r < r1; r++)
            for (long i = i0; i < n && i < i0 + 16; i++) {
                T *a = array + i * stride + rows[r], *b = lanes_buf + lane_rows[r] + i;
                if (into_lanes)
                    for (long w = 0; w < width; w++) b[w * lanes] = a[w];
                else
                    for (long w = 0; w < width; w++) a[w] = b[w * lanes];
            }
}
#undef VL
