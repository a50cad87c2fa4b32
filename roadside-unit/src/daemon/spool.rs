//! The uplink spool: records wait here, on disk, until cloud-control
//! acknowledges them, so nothing is lost while the cloud is unreachable or
//! either side restarts.
//!
//! Layout of the directory: `records.jsonl` (one [`uplink::Record`] per line,
//! appended and flushed as records are made) and `acked` (the highest
//! acknowledged sequence number, replaced atomically).  On start the records
//! above `acked` are loaded; sequence numbers continue after the highest seen,
//! so they never repeat.  The file is rewritten (compacted, atomically) when
//! acknowledged lines dominate it.  Bounded: beyond `max_records` the oldest
//! track summaries go first, then lane counts and health, events last; each
//! drop is counted.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use uplink::{Record, RecordBody};

/// The spool.
pub struct Spool {
    dir: PathBuf,
    file: File,
    records: VecDeque<Record>,
    lines_in_file: usize,
    acked: u64,
    next_seq: u64,
    max_records: usize,
    /// Records dropped because the spool was full, by kind name.
    pub dropped: Vec<(&'static str, u64)>,
}

/// The kind name of a record body (for metrics and drop order).
pub fn kind(b: &RecordBody) -> &'static str {
    match b {
        RecordBody::Tracks { .. } => "tracks",
        RecordBody::LaneCounts { .. } => "lane_counts",
        RecordBody::Health { .. } => "health",
        RecordBody::Event(_) => "event",
    }
}

fn io_err(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl Spool {
    /// Open (or create) the spool in `dir`.
    pub fn open(dir: &Path, max_records: usize) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let acked_path = dir.join("acked");
        let acked = std::fs::read_to_string(&acked_path).ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0);
        let path = dir.join("records.jsonl");
        let mut records = VecDeque::new();
        let mut max_seq = acked;
        let mut lines = 0;
        if let Ok(f) = File::open(&path) {
            for (n, line) in BufReader::new(f).lines().enumerate() {
                let Ok(line) = line else { break };
                lines += 1;
                match serde_json::from_str::<Record>(&line) {
                    Ok(r) => {
                        max_seq = max_seq.max(r.seq);
                        if r.seq > acked {
                            records.push_back(r);
                        }
                    }
                    // a line cut short by a crash while it was written: the record never left
                    Err(e) => tracing::warn!(file = %path.display(), line = n + 1, error = %e, "spool line skipped"),
                }
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(|e| io_err(&path, e))?;
        let mut s = Spool {
            dir: dir.to_path_buf(),
            file,
            records,
            lines_in_file: lines,
            acked,
            next_seq: max_seq + 1,
            max_records,
            dropped: Vec::new(),
        };
        s.compact_if_worth_it()?;
        Ok(s)
    }

    /// Keep a new record; returns its sequence number.
    pub fn append(&mut self, time_unix_ms: i64, body: RecordBody) -> std::io::Result<u64> {
        let r = Record { seq: self.next_seq, time_unix_ms, body };
        self.next_seq += 1;
        let mut line = serde_json::to_vec(&r).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let seq = r.seq;
        // kept in memory even when the disk refuses it: it is then lost only if the RSU also restarts
        self.records.push_back(r);
        if self.records.len() > self.max_records {
            self.shed()?;
        }
        self.file.write_all(&line)?;
        self.file.flush()?;
        self.lines_in_file += 1;
        Ok(seq)
    }

    /// Drop a tenth of the capacity, least valuable first, and rewrite the file.
    fn shed(&mut self) -> std::io::Result<()> {
        let target = self.max_records - self.max_records / 10;
        for k in ["tracks", "lane_counts", "health", "event"] {
            let mut n = 0u64;
            while self.records.len() > target {
                let Some(i) = self.records.iter().position(|r| kind(&r.body) == k) else { break };
                self.records.remove(i);
                n += 1;
            }
            if n > 0 {
                tracing::warn!(kind = k, records = n, "uplink spool full: oldest records dropped");
                self.dropped.push((k, n));
            }
        }
        self.compact()
    }

    /// The cloud stored everything up to `seq`.
    pub fn ack(&mut self, seq: u64) -> std::io::Result<usize> {
        if seq <= self.acked {
            return Ok(0);
        }
        let mut n = 0;
        while self.records.front().is_some_and(|r| r.seq <= seq) {
            self.records.pop_front();
            n += 1;
        }
        self.acked = seq;
        let path = self.dir.join("acked");
        let tmp = self.dir.join("acked.tmp");
        std::fs::write(&tmp, seq.to_string()).map_err(|e| io_err(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
        self.compact_if_worth_it()?;
        Ok(n)
    }

    fn compact_if_worth_it(&mut self) -> std::io::Result<()> {
        if self.lines_in_file > 1000 && self.lines_in_file > 2 * self.records.len() {
            self.compact()?;
        }
        Ok(())
    }

    fn compact(&mut self) -> std::io::Result<()> {
        let path = self.dir.join("records.jsonl");
        let tmp = self.dir.join("records.jsonl.tmp");
        {
            let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
            for r in &self.records {
                let mut line = serde_json::to_vec(r).map_err(std::io::Error::other)?;
                line.push(b'\n');
                f.write_all(&line)?;
            }
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
        self.file = OpenOptions::new().append(true).open(&path).map_err(|e| io_err(&path, e))?;
        self.lines_in_file = self.records.len();
        Ok(())
    }

    /// Records not yet acknowledged with a sequence number above `after`, oldest first.
    pub fn after(&self, after: u64) -> impl Iterator<Item = &Record> {
        self.records.iter().filter(move |r| r.seq > after)
    }

    /// Records waiting.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The highest acknowledged sequence number.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Make sure new records are numbered after `seq` (the cloud already stored up to it: a lost or
    /// replaced spool directory must not make the RSU reuse numbers the cloud would drop).
    pub fn ensure_after(&mut self, seq: u64) {
        if self.next_seq <= seq {
            tracing::warn!(
                from = self.next_seq,
                to = seq + 1,
                "spool numbering behind the cloud's; continuing after it"
            );
            self.next_seq = seq + 1;
        }
    }

    /// The sequence number the next record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uplink::{EventPhase, EventRecord};

    fn event(id: u64) -> RecordBody {
        RecordBody::Event(EventRecord {
            id,
            event: "wrong_way".into(),
            phase: EventPhase::Started,
            started_unix_ms: 1,
            ended_unix_ms: None,
            lat: 0.0,
            lon: 0.0,
            lane: None,
            approach: None,
            objects: vec![],
            confidence: 1.0,
        })
    }

    #[test]
    fn records_survive_a_restart_until_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = Spool::open(dir.path(), 100).unwrap();
            for i in 0..5 {
                assert_eq!(s.append(i, event(i as u64)).unwrap(), i as u64 + 1);
            }
            assert_eq!(s.ack(2).unwrap(), 2);
        }
        // a torn last line (crash while writing) is skipped
        let mut f = OpenOptions::new().append(true).open(dir.path().join("records.jsonl")).unwrap();
        f.write_all(b"{\"seq\":6,\"ti").unwrap();
        drop(f);
        let mut s = Spool::open(dir.path(), 100).unwrap();
        assert_eq!(s.after(0).map(|r| r.seq).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(s.acked(), 2);
        assert_eq!(s.append(9, event(9)).unwrap(), 6, "sequence numbers continue, never repeat");
        s.ack(6).unwrap();
        assert!(s.is_empty());
        let s = Spool::open(dir.path(), 100).unwrap();
        assert!(s.is_empty());
        assert_eq!(s.next_seq(), 7);
    }

    #[test]
    fn numbering_continues_after_what_the_cloud_already_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 100).unwrap();
        s.ensure_after(41);
        assert_eq!(s.append(0, event(1)).unwrap(), 42, "a lost spool does not reuse numbers");
        s.ensure_after(10);
        assert_eq!(s.append(0, event(2)).unwrap(), 43);
    }

    #[test]
    fn a_full_spool_sheds_track_summaries_before_events() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 20).unwrap();
        for i in 0..15 {
            s.append(i, RecordBody::Tracks { tracks: vec![] }).unwrap();
            if i % 3 == 0 {
                s.append(i, event(i as u64)).unwrap();
            }
        }
        assert!(s.len() <= 20);
        let events = s.after(0).filter(|r| kind(&r.body) == "event").count();
        assert_eq!(events, 5, "every event kept");
        assert!(s.dropped.iter().all(|(k, _)| *k == "tracks"));
        let reopened = Spool::open(dir.path(), 20).unwrap();
        assert_eq!(reopened.len(), s.len(), "the rewrite is what a restart sees");
    }
}
