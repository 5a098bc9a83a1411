using System.Runtime.InteropServices;

namespace IommuSan.Recording;

/// <summary>
/// How a kprobe definition names the first integer arguments of a probed function on one
/// architecture (the kernel's kprobetrace syntax: <c>%reg</c>). Only the first five are needed:
/// no probed function takes its interesting arguments beyond the fifth.
/// </summary>
internal sealed record KprobeArchitecture(string Name, IReadOnlyList<string> UnameMachines, IReadOnlyList<string> ArgumentRegisters)
{
    /// <summary>System V AMD64 calling convention: rdi, rsi, rdx, rcx, r8.</summary>
    public static readonly KprobeArchitecture X86_64 = new("x86_64", ["x86_64", "amd64"], ["%di", "%si", "%dx", "%cx", "%r8"]);

    /// <summary>AAPCS64: x0..x4.</summary>
    public static readonly KprobeArchitecture Arm64 = new("arm64", ["aarch64", "arm64"], ["%x0", "%x1", "%x2", "%x3", "%x4"]);

    public static IReadOnlyList<KprobeArchitecture> All { get; } = [X86_64, Arm64];

    /// <summary>The architecture `uname -m` names, or null when IommuSan knows no registers for it.</summary>
    public static KprobeArchitecture? FromMachine(string machine)
    {
        foreach (var arch in All)
        {
            foreach (var m in arch.UnameMachines)
            {
                if (string.Equals(m, machine, StringComparison.Ordinal))
                {
                    return arch;
                }
            }
        }

        return null;
    }

    /// <summary>The running process's architecture, or null on one without known registers.</summary>
    public static KprobeArchitecture? Current => RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => X86_64,
        Architecture.Arm64 => Arm64,
        _ => null,
    };
}
