/* Direct convolution in the batch-last layout (see direct.py, which calls these through ctypes).
   Built by setup.py as an optional extension: where it cannot be compiled, deepgrad uses im2col + GEMM.
   Each kernel holds a block of outputs × a vector of images in registers; on x86-64 with GCC it is
   compiled for AVX-512, AVX2 + FMA and the baseline, and the loader picks the best the CPU has. */
#include <Python.h>
#include <string.h>

#define VECTOR_BYTES 32     /* 8 floats or 4 doubles; AVX-512 cores gain as much from more registers */
#define OUT_BLOCK 6         /* conv: 6 outputs × 2 vectors of images = 12 accumulators */
#define OUT_BLOCK_W 4       /* conv_weight: 4 outputs × 3 taps = 12 accumulators */
#define TAP_BLOCK 3
#define CHUNK_BYTES 16384  /* what a chunk of inputs or gradients may take of L1 */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

#define T float
#define NAME(x) x##_f32
#include "_direct_kernels.h"
#undef T
#undef NAME

#define T double
#define NAME(x) x##_f64
#include "_direct_kernels.h"
#undef T
#undef NAME

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_direct", "Direct convolution kernels (deepgrad/kernels/cpu/direct.py).", -1,
                                    NULL};

PyMODINIT_FUNC PyInit__direct(void) { return PyModule_Create(&module); }
