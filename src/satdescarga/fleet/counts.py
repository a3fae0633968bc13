"""Each taxpayer's documents and XML, counted as they are written (revision 0006): the
overview of 10,000 taxpayers (`fleet status`, `serve`) reads one small table instead of
counting millions of rows on every look.

`fleet_document_counts.documents` is `count(DISTINCT uuid)` of the taxpayer's metadata (a
self-invoice, kept once per direction, is one document); `xml` is its `fleet_xml` rows.
Statement triggers keep them (one upsert per taxpayer and statement, not per row: the
outputs arrive by COPY and one INSERT ... ON CONFLICT per package).
"""

from __future__ import annotations

TRIGGERS = """
CREATE OR REPLACE FUNCTION fleet_metadata_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- a document is new when every row the table has of it came in this statement
        INSERT INTO fleet_document_counts AS c (taxpayer, documents)
        SELECT a.taxpayer, count(*) FROM (
            SELECT taxpayer, uuid, count(*) AS n FROM counted_rows GROUP BY taxpayer, uuid
        ) a
        WHERE (SELECT count(*) FROM fleet_metadata m
               WHERE m.uuid = a.uuid AND m.taxpayer = a.taxpayer) = a.n
        GROUP BY a.taxpayer
        ON CONFLICT (taxpayer) DO UPDATE SET documents = c.documents + EXCLUDED.documents;
    ELSE
        UPDATE fleet_document_counts c SET documents = c.documents - gone.n
        FROM (SELECT r.taxpayer, count(*) AS n
              FROM (SELECT DISTINCT taxpayer, uuid FROM counted_rows) r
              WHERE NOT EXISTS (SELECT 1 FROM fleet_metadata m
                                WHERE m.uuid = r.uuid AND m.taxpayer = r.taxpayer)
              GROUP BY r.taxpayer) gone
        WHERE c.taxpayer = gone.taxpayer;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION fleet_xml_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO fleet_document_counts AS c (taxpayer, xml)
    SELECT taxpayer, CASE TG_OP WHEN 'INSERT' THEN count(*) ELSE -count(*) END
    FROM counted_rows GROUP BY taxpayer
    ON CONFLICT (taxpayer) DO UPDATE SET xml = c.xml + EXCLUDED.xml;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS fleet_metadata_added ON fleet_metadata;
CREATE TRIGGER fleet_metadata_added AFTER INSERT ON fleet_metadata
    REFERENCING NEW TABLE AS counted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fleet_metadata_counted();
DROP TRIGGER IF EXISTS fleet_metadata_removed ON fleet_metadata;
CREATE TRIGGER fleet_metadata_removed AFTER DELETE ON fleet_metadata
    REFERENCING OLD TABLE AS counted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fleet_metadata_counted();
DROP TRIGGER IF EXISTS fleet_xml_added ON fleet_xml;
CREATE TRIGGER fleet_xml_added AFTER INSERT ON fleet_xml
    REFERENCING NEW TABLE AS counted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fleet_xml_counted();
DROP TRIGGER IF EXISTS fleet_xml_removed ON fleet_xml;
CREATE TRIGGER fleet_xml_removed AFTER DELETE ON fleet_xml
    REFERENCING OLD TABLE AS counted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fleet_xml_counted();
"""

RECOUNT = """
INSERT INTO fleet_document_counts AS c (taxpayer, documents, xml)
SELECT taxpayer, sum(documents), sum(xml) FROM (
    SELECT taxpayer, count(DISTINCT uuid) AS documents, 0 AS xml FROM fleet_metadata
    GROUP BY taxpayer
    UNION ALL
    SELECT taxpayer, 0, count(*) FROM fleet_xml GROUP BY taxpayer
) t GROUP BY taxpayer
ON CONFLICT (taxpayer) DO UPDATE SET documents = EXCLUDED.documents, xml = EXCLUDED.xml
"""
"""Count everything again (the revision's backfill; after a bulk load without triggers)."""
