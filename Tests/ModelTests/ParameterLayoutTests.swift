import Model
import Testing

@Suite struct ParameterLayoutTests {
    /// Counts by hand for config S of the brief (d128, 4 layers, 4 heads, ff 384, vocab 256).
    @Test func countsMatchAHandCount() {
        let c = LlamaConfig.uniform(vocabSize: 256, hidden: 128, layers: 4, heads: 4, mlpHidden: 384)
        let perBlock = 2 * 128 + 4 * 128 * 128 + 3 * 384 * 128
        let counts = ParameterCounts(c)
        #expect(counts.perBlock == [Int](repeating: perBlock, count: 4))
        #expect(counts.nonEmbedding == 4 * perBlock + 128)
        #expect(counts.total == counts.nonEmbedding + 2 * 256 * 128)
        #expect(ParameterLayout(c).totalCount == counts.total)
    }

    @Test func blocksMayDifferAndGQAShrinksKeyValues() throws {
        var c = LlamaConfig.uniform(vocabSize: 64, hidden: 32, layers: 2, heads: 4, kvHeads: 2, mlpHidden: 48, tiedEmbeddings: true)
        c.blocks[1] = BlockShape(heads: 2, kvHeads: 1, mlpHidden: 20)
        try c.validate()
        let layout = ParameterLayout(c)
        #expect(layout["model.layers.0.self_attn.k_proj.weight"]?.shape == [16, 32])
        #expect(layout["model.layers.1.self_attn.q_proj.weight"]?.shape == [16, 32])
        #expect(layout["model.layers.1.mlp.down_proj.weight"]?.shape == [32, 20])
        #expect(layout["lm_head.weight"] == nil, "tied embeddings have no separate head")
        // Entries tile the buffer exactly, in order.
        var next = 0
        for e in layout.entries {
            #expect(e.offset == next)
            next += e.count
        }
        #expect(next == layout.totalCount)
        c.blocks[1].kvHeads = 3
        #expect(throws: ModelError.self) { try c.validate() }
    }
}
