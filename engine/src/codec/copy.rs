//! What zero-copy pass-through shares between the codecs (see `exec::passthrough`): where a
//! copied field's bytes lie in the consumed record, and how a decoder treats a field the output
//! copies.

/// Where a field's bytes lie in a decoded record: `start..end`, empty for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// The first byte.
    pub start: u32,
    /// Just past the last byte.
    pub end: u32,
}

impl Span {
    pub(crate) const NONE: Span = Span { start: 0, end: 0 };

    /// `start..end`, or none where an end does not fit `u32` (a Kafka record is far below
    /// 4 GiB; a longer one is not copied from).
    #[inline]
    pub(crate) fn new(start: usize, end: usize) -> Span {
        match (u32::try_from(start), u32::try_from(end)) {
            (Ok(start), Ok(end)) => Span { start, end },
            _ => Span::NONE,
        }
    }

    /// True when there are no bytes to copy.
    pub fn is_none(self) -> bool {
        self.start == self.end
    }

    /// The bytes of `source` that slot `slot`'s span in `spans` names, if it has one.
    #[inline]
    pub fn bytes<'a>(spans: &[Span], slot: usize, source: &'a [u8]) -> Option<&'a [u8]> {
        spans
            .get(slot)
            .filter(|span| !span.is_none())
            .and_then(|span| source.get(span.start as usize..span.end as usize))
    }
}

/// How a decoder treats one field given which of the slots it fills the output copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldCopy {
    /// Not copied: decoded into its slots (or skipped) as usual.
    None,
    /// Copied and also read (by the filter or a computed column): decoded, and its bytes noted.
    Decoded,
    /// Only copied: checked as decoding would check it, not built, and its bytes noted.
    Only,
}

impl FieldCopy {
    /// The treatment of a field filling `slots`, where `copied[slot]` says an output column
    /// copies the slot and `copy_only[slot]` that nothing else reads it.
    pub(crate) fn of(
        slots: impl Iterator<Item = usize> + Clone,
        copied: &[bool],
        copy_only: &[bool],
    ) -> FieldCopy {
        let at = |v: &[bool], slot: usize| v.get(slot).copied().unwrap_or(false);
        if !slots.clone().any(|s| at(copied, s)) {
            FieldCopy::None
        } else if slots.into_iter().all(|s| at(copied, s) && at(copy_only, s)) {
            FieldCopy::Only
        } else {
            FieldCopy::Decoded
        }
    }
}
