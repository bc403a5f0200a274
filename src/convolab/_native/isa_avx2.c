/* AVX2 + FMA kernels: 16 vector registers of 32 bytes. Run only where isa.c finds them. */
#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC target("avx2,fma")
#define ISA avx2
#define VBYTES 32
/* 12 accumulators (6x2) or 8 (8x1), leaving registers for weights and a broadcast */
#define F32_PIX1 8
#define F32_PIX2 6
#define F32_PIX4 0
#define F64_PIX1 8
#define F64_PIX2 6
#define F64_PIX4 0
#define F32_DW_PIX 6
#define F32_DW_NC 1
#define F64_DW_PIX 6
#define F64_DW_NC 1
#include "isa_template.h"
#else
#include "isa.h"
void cl_fill_avx2(struct cl_kernels *k) { (void)k; }
#endif
