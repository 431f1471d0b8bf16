//! The merged profile in Go's text format.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::Merged;
use crate::output::push_u32;
use crate::profile::{Block, FileBlocks};

impl Merged {
    /// Writes the merged profile in Go's text format. Large profiles are
    /// formatted by several threads, a chunk of files each, and written in
    /// order.
    ///
    /// This is the one parallel loop that does not use [`crate::pool`]:
    /// `pool::map` returns once every item is done, which here would hold
    /// the whole formatted output (400 MB for a large merge) in memory and
    /// start writing only at the end. The formatters below hand each chunk
    /// to the writer as soon as it is ready, through a bounded channel, and
    /// reuse the written buffers.
    pub fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
        out.write_all(format!("mode: {}\n", self.mode).as_bytes())?;
        let chunks = chunk_files(&self.files, 1 << 12);
        let threads = crate::pool::default_threads().min(chunks.len());
        if threads <= 1 {
            let mut buf = Vec::with_capacity(1 << 20);
            for file in &self.files {
                format_blocks(&file.path, &file.blocks, &mut buf);
                if buf.len() >= 1 << 20 {
                    out.write_all(&buf)?;
                    buf.clear();
                }
            }
            return out.write_all(&buf);
        }
        let next = AtomicUsize::new(0);
        // Written buffers go back to the formatters: fresh memory costs a
        // page fault per 4 KiB, more than formatting into it.
        let spare: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Vec<u8>)>(2 * threads);
        std::thread::scope(|s| {
            for _ in 0..threads {
                let tx = tx.clone();
                let (next, chunks, files, spare) = (&next, &chunks, &self.files, &spare);
                s.spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(chunk) = chunks.get(i) else { break };
                    let mut buf = spare.lock().unwrap().pop().unwrap_or_default();
                    for (f, range) in chunk {
                        format_blocks(&files[*f].path, &files[*f].blocks[range.clone()], &mut buf);
                    }
                    if tx.send((i, buf)).is_err() {
                        break; // the writer failed and went away
                    }
                });
            }
            drop(tx);
            // Chunks arrive about in order; hold the early ones back.
            let mut pending = std::collections::BTreeMap::new();
            let mut want = 0;
            for (i, buf) in rx {
                pending.insert(i, buf);
                while let Some(mut buf) = pending.remove(&want) {
                    out.write_all(&buf)?;
                    buf.clear();
                    spare.lock().unwrap().push(buf);
                    want += 1;
                }
            }
            Ok(())
        })
    }
}

/// A piece of the output: blocks `blocks` of file `file`.
type Piece = (usize, std::ops::Range<usize>);

/// Splits the output into consecutive chunks of about `blocks` blocks each
/// (a large file spans several chunks), so buffers stay small.
fn chunk_files(files: &[FileBlocks], blocks: usize) -> Vec<Vec<Piece>> {
    let mut chunks = Vec::new();
    let mut chunk: Vec<Piece> = Vec::new();
    let mut size = 0;
    for (i, f) in files.iter().enumerate() {
        let mut start = 0;
        while start < f.blocks.len() {
            let end = f.blocks.len().min(start + (blocks - size));
            chunk.push((i, start..end));
            size += end - start;
            start = end;
            if size == blocks {
                chunks.push(std::mem::take(&mut chunk));
                size = 0;
            }
        }
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    chunks
}

fn format_blocks(path: &[u8], blocks: &[Block], buf: &mut Vec<u8>) {
    for b in blocks {
        buf.extend_from_slice(path);
        buf.push(b':');
        push_u32(buf, b.pos.start_line);
        buf.push(b'.');
        push_u32(buf, b.pos.start_col);
        buf.push(b',');
        push_u32(buf, b.pos.end_line);
        buf.push(b'.');
        push_u32(buf, b.pos.end_col);
        buf.push(b' ');
        push_u32(buf, b.stmts);
        buf.push(b' ');
        push_u32(buf, b.count);
        buf.push(b'\n');
    }
}
