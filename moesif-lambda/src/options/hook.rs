//! A hook as the options hold it: a plain `fn` (what a `const` can hold) or a closure that captures
//! run-time values (an `Options` built by a `fn` or at start-up).

use std::sync::Arc;

/// A hook of plain-`fn` type `P` or closure trait-object type `D`.
///
/// The `const` builders set a hook with `std::mem::forget(field.replace(..))`: a `const fn` cannot run
/// the old value's destructor. The old value is `None` or a `fn` (nothing to drop) unless a closure set
/// at run time is overwritten by a `const` builder afterwards, which leaks that closure once.
pub(crate) enum Hook<P, D: ?Sized> {
    /// A `fn` (or a closure that captures nothing).
    Plain(P),
    /// A closure that captures values.
    Shared(Arc<D>),
}

impl<P: Copy, D: ?Sized> Clone for Hook<P, D> {
    fn clone(&self) -> Self {
        match self {
            Hook::Plain(plain) => Hook::Plain(*plain),
            Hook::Shared(shared) => Hook::Shared(shared.clone()),
        }
    }
}

/// A `fn` seen as the trait object a closure of the same signature is.
pub(crate) trait AsDyn<D: ?Sized> {
    fn as_dyn(&self) -> &D;
}

impl<P: AsDyn<D>, D: ?Sized> Hook<P, D> {
    /// The hook, to call.
    pub(crate) fn get(&self) -> &D {
        match self {
            Hook::Plain(plain) => plain.as_dyn(),
            Hook::Shared(shared) => shared,
        }
    }
}

/// `AsDyn` for each hook signature: a `fn` pointer coerces to the trait object.
macro_rules! as_dyn {
    ($($plain:ty => $shared:ty),* $(,)?) => {
        $(impl AsDyn<$shared> for $plain {
            fn as_dyn(&self) -> &$shared {
                self
            }
        })*
    };
}
pub(crate) use as_dyn;
