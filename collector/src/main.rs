fn main() -> anyhow::Result<()> {
    anyhow::bail!("the collector is not built yet")
}
