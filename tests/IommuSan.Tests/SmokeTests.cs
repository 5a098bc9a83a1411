namespace IommuSan.Tests;

public sealed class SmokeTests
{
    [Fact]
    public void Library_assembly_loads()
    {
        Assert.Equal("IommuSan.Core", typeof(IommuSan.Model.PageSize).Assembly.GetName().Name);
    }
}
