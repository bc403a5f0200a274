/* AVX-512 kernels: 32 vector registers of 64 bytes. Built whatever the compiler's default
 * target; run only where isa.c finds AVX-512F enabled by the CPU and OS. */
#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC target("avx512f,avx2,fma")
#define ISA avx512
#define VBYTES 64
/* 24 accumulators (6x4, 12x2), 12 for one vector: the tile's pointers must fit the 15
 * general registers too */
#define F32_PIX1 12
#define F32_PIX2 12
#define F32_PIX4 6
#define F64_PIX1 12
#define F64_PIX2 12
#define F64_PIX4 6
#define F32_DW_PIX 8
#define F32_DW_NC 2
#define F64_DW_PIX 8
#define F64_DW_NC 2
#include "isa_template.h"
#else
#include "isa.h"
void cl_fill_avx512(struct cl_kernels *k) { (void)k; }
#endif
