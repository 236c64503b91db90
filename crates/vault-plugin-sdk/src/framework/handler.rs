//! Handlers: plain async functions, with or without a typed arguments struct.
//!
//! A handler is `async fn(Arc<S>, Request) -> Result<T>` or
//! `async fn(Arc<S>, Request, A) -> Result<T>` where `A` derives
//! [`Fields`](super::fields::Fields). The second form contributes `A`'s schema
//! to the path (help, OpenAPI, unknown-field warnings) and receives `A`
//! decoded from the request; bad input never reaches the function.

use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::Request;
use super::fields::{FieldData, FieldSchema, Fields};
use crate::Result;

/// Something that can handle a request on state `S` and produce a `T`.
/// `M` only tells the two handler shapes apart; it is inferred.
pub trait Handler<S, T, M>: Send + Sync + 'static {
    /// The fields this handler decodes (empty for the plain shape).
    fn schema(&self) -> Vec<FieldSchema>;

    /// Runs the handler.
    fn call(&self, state: Arc<S>, req: Request) -> BoxFuture<'static, Result<T>>;
}

/// Marker for `async fn(Arc<S>, Request)`.
pub struct Plain;

/// Marker for `async fn(Arc<S>, Request, A)`.
pub struct WithArgs<A>(std::marker::PhantomData<fn() -> A>);

impl<S, T, F, Fut> Handler<S, T, Plain> for F
where
    F: Fn(Arc<S>, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T>> + Send + 'static,
{
    fn schema(&self) -> Vec<FieldSchema> {
        Vec::new()
    }

    fn call(&self, state: Arc<S>, req: Request) -> BoxFuture<'static, Result<T>> {
        Box::pin(self(state, req))
    }
}

impl<S, T, F, Fut, A> Handler<S, T, WithArgs<A>> for F
where
    F: Fn(Arc<S>, Request, A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T>> + Send + 'static,
    A: Fields,
    T: Send + 'static,
{
    fn schema(&self) -> Vec<FieldSchema> {
        A::schema()
    }

    fn call(&self, state: Arc<S>, req: Request) -> BoxFuture<'static, Result<T>> {
        let args = A::from_data(&FieldData::new(&req.data, req.schema()));
        match args {
            Ok(args) => Box::pin(self(state, req, args)),
            Err(err) => Box::pin(async move { Err(err.into()) }),
        }
    }
}

type ErasedFn<S, T> = dyn Fn(Arc<S>, Request) -> BoxFuture<'static, Result<T>> + Send + Sync;

/// A handler with its shape erased, as the router stores it.
pub(crate) struct BoxHandler<S, T> {
    call: Arc<ErasedFn<S, T>>,
    pub(crate) schema: Arc<[FieldSchema]>,
}

impl<S, T> Clone for BoxHandler<S, T> {
    fn clone(&self) -> Self {
        Self {
            call: Arc::clone(&self.call),
            schema: Arc::clone(&self.schema),
        }
    }
}

impl<S: Send + Sync + 'static, T: 'static> BoxHandler<S, T> {
    pub(crate) fn new<M>(handler: impl Handler<S, T, M>) -> Self {
        let schema: Arc<[FieldSchema]> = handler.schema().into();
        Self {
            call: Arc::new(move |state, req| handler.call(state, req)),
            schema,
        }
    }

    /// Runs the handler; `req` carries the schema its arguments decode with.
    pub(crate) fn call(&self, state: Arc<S>, mut req: Request) -> BoxFuture<'static, Result<T>> {
        req.set_schema(Arc::clone(&self.schema));
        (self.call)(state, req)
    }
}
