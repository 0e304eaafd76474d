# The KVM probe's firmware (see host.rs): from the reset vector through
# protected mode and paging into 64-bit long mode, then a write of 0x2a to
# the isa-debug-exit port, which ends QEMU with status 0x2a * 2 + 1 = 85.
# A guest kernel crosses the same steps, which a broken /dev/kvm may hang
# in. host.rs carries the assembled bytes; to make them again:
#   as --64 -o probe.o probe.S && ld -m elf_x86_64 -Ttext=0 --oformat binary -o probe.bin probe.o
.intel_syntax noprefix
.code16
.org 0
start:
    cli
    mov ax, 0xF000
    mov ds, ax
    lgdt [gdtr]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    .byte 0x66, 0xEA
    .long 0xF0000 + prot32
    .word 0x08
.code32
prot32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov edi, 0x1000
    mov ecx, 0xC00
    xor eax, eax
    rep stosd
    mov dword ptr [0x1000], 0x2003
    mov dword ptr [0x2000], 0x3003
    mov dword ptr [0x3000], 0x83
    mov eax, cr4
    or eax, 0x20
    mov cr4, eax
    mov eax, 0x1000
    mov cr3, eax
    mov ecx, 0xC0000080
    rdmsr
    or eax, 0x100
    wrmsr
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    .byte 0xEA
    .long 0xF0000 + long64
    .word 0x18
.code64
long64:
    mov al, 0x2a
    out 0xf4, al
    hlt
.align 8
gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF
    .quad 0x00CF92000000FFFF
    .quad 0x00AF9A000000FFFF
gdtr:
    .word gdtr - gdt - 1
    .long 0xF0000 + gdt
.org 0xFFF0
.code16
    .byte 0xEA
    .word start
    .word 0xF000
.org 0x10000
