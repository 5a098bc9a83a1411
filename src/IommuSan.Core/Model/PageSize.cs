namespace IommuSan.Model;

/// <summary>CPU base page sizes Linux supports on the architectures IommuSan models.</summary>
internal static class PageSize
{
    public const int Shift4K = 12;
    public const int Shift16K = 14;
    public const int Shift64K = 16;
}
