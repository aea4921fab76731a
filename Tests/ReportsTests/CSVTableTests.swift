import Reports
import Testing

@Suite struct CSVTableTests {
    @Test func quotesOnlyWhatNeedsQuoting() {
        var t = CSVTable(header: ["run", "note"])
        t.append(["a", "plain"])
        t.append(["b,1", "say \"hi\""])
        #expect(t.text == "run,note\na,plain\n\"b,1\",\"say \"\"hi\"\"\"\n")
    }

    @Test func numbersRoundTrip() {
        for x in [0.1, 1e9, 3.0, -2.5e-7, 1.0 / 3.0] {
            #expect(Double(CSVTable.number(x)) == x)
        }
        #expect(CSVTable.number(1e9) == "1000000000")
    }
}
