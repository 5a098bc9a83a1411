using System.Text;
using IommuSan.Trace.Text;

namespace IommuSan.Tests.Trace.Text;

/// <summary>Numbers and timestamps as the kernel prints them, parsed from bytes.</summary>
public sealed class PrintedNumbers
{
    [Theory]
    [InlineData("0xffffffffffffffff", 10, ulong.MaxValue)]
    [InlineData("ffffffffffffffff", 16, ulong.MaxValue)]
    [InlineData("18446744073709551615", 10, ulong.MaxValue)]
    [InlineData("-1", 10, ulong.MaxValue)]
    [InlineData("00000000fffa0000", 16, 0xfffa0000UL)]
    [InlineData("0X1F", 10, 0x1fUL)]
    [InlineData("62282", 10, 62282UL)]
    public void Integers_in_every_printed_form_parse(string text, int radix, ulong expected)
    {
        Assert.True(TextNumbers.TryParseInteger(Encoding.ASCII.GetBytes(text), radix, out var value));
        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData("0x1ffffffffffffffff", 16)]
    [InlineData("18446744073709551616", 10)]
    [InlineData("12ab", 10)]
    [InlineData("", 10)]
    [InlineData("0x", 16)]
    public void Integers_that_do_not_fit_or_are_not_numbers_are_refused(string text, int radix)
    {
        Assert.False(TextNumbers.TryParseInteger(Encoding.ASCII.GetBytes(text), radix, out _));
    }

    [Theory]
    [InlineData("13.123832", 13_123_832_000L)]
    [InlineData("13.781958220", 13_781_958_220L)]
    [InlineData("0.000001", 1_000L)]
    [InlineData("123456789", 123_456_789L)]
    [InlineData("13.1234567891", 13_123_456_789L)]
    public void Timestamps_become_integer_nanoseconds(string text, long expected)
    {
        Assert.True(TextNumbers.TryParseTimestamp(Encoding.ASCII.GetBytes(text), out var ns));
        Assert.Equal(expected, ns);
    }
}
