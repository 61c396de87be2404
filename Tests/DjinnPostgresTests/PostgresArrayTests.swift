import DjinnPostgres
import DjinnTesting
import Foundation
import Testing

@Suite struct PostgresArrayTests {
    @Test func literalQuotesEveryElementAndEscapesQuotesAndBackslashes() {
        #expect(PostgresArray([Int64]()).literal == "{}")
        #expect(PostgresArray([1, 2, 3] as [Int64]).literal == #"{"1","2","3"}"#)
        #expect(PostgresArray(["a", "", "NULL", #"say "hi""#, #"back\slash"#, "a,b {c}"]).literal
            == #"{"a","","NULL","say \"hi\"","back\\slash","a,b {c}"}"#)
        #expect(PostgresArray([1, nil, 3] as [Int64?]).literal == #"{"1",NULL,"3"}"#)
        #expect(PostgresArray([[UInt8]([0x00, 0xff])]).literal == #"{"\\x00ff"}"#)
    }

    /// What goes in comes back out of `unnest`, element for element, NULLs included.
    @Test func roundTripsThroughUnnest() async throws {
        let database = try await TestDatabase.create()
        let connection = try await PostgresConnection.connect(database.configuration, logger: quietLogger)
        let texts: [String?] = ["plain", "", "NULL", nil, #"q"uo\te"#, "ü ✓ 𝄞", "{,}", " spaced ", "line\nbreak"]
        let rows = try await connection.query(
            "SELECT t, n, d, b FROM unnest($1::text[], $2::bigint[], $3::timestamp[], $4::bool[]) AS x(t, n, d, b)",
            [
                PostgresArray(texts), PostgresArray((0..<texts.count).map { Int64($0) - 4 }),
                PostgresArray(texts.indices.map { Date(timeIntervalSince1970: 1_700_000_000.25 + Double($0)) }),
                PostgresArray(texts.indices.map { $0 % 2 == 0 }),
            ])
        #expect(try rows.map { try $0.decode(String?.self, at: 0) } == texts)
        #expect(try rows.map { try $0.decode(Int64.self, at: 1) } == (0..<texts.count).map { Int64($0) - 4 })
        #expect(try rows.map { try $0.decode(Date.self, at: 2) }
            == texts.indices.map { Date(timeIntervalSince1970: 1_700_000_000.25 + Double($0)) })
        #expect(try rows.map { try $0.decode(Bool.self, at: 3) } == texts.indices.map { $0 % 2 == 0 })
        let bytes = try await connection.query("SELECT unnest($1::bytea[])", [PostgresArray([[UInt8]([0, 1, 0xfe]), []])])
        #expect(try bytes.map { try $0.decode([UInt8].self, at: 0) } == [[0, 1, 0xfe], []])
        await connection.close()
    }
}
