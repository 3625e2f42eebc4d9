//! ONNX graphs (opset 13) written with `onnx-protobuf`: the fp32 model and the int8 QDQ model.

use crate::ExportError;
use crate::fold::{Act, Fused, Kind};
use crate::quant::QModel;
use crate::spec::GeneratorSpec;
use onnx_protobuf::{
    AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
    attribute_proto::AttributeType, tensor_shape_proto, type_proto,
};

/// ONNX opset the graphs use.
pub const OPSET: i64 = 13;
const IR_VERSION: i64 = 7;

const FLOAT: i32 = 1;
const INT8: i32 = 3;
const INT32: i32 = 6;
const INT64: i32 = 7;

enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
}

#[derive(Default)]
struct Builder {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    next: usize,
}

impl Builder {
    fn name(&mut self, base: &str) -> String {
        self.next += 1;
        format!("{base}_{}", self.next)
    }

    fn init(&mut self, name: &str, dims: &[usize], data_type: i32, raw: Vec<u8>) -> String {
        let mut t = TensorProto::new();
        t.name = name.to_string();
        t.dims = dims.iter().map(|&d| d as i64).collect();
        t.data_type = data_type;
        t.raw_data = raw;
        self.inits.push(t);
        name.to_string()
    }

    fn f32s(&mut self, name: &str, dims: &[usize], v: &[f32]) -> String {
        self.init(
            name,
            dims,
            FLOAT,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    }

    fn i8s(&mut self, name: &str, dims: &[usize], v: &[i8]) -> String {
        self.init(name, dims, INT8, v.iter().map(|&x| x as u8).collect())
    }

    fn i32s(&mut self, name: &str, dims: &[usize], v: &[i32]) -> String {
        self.init(
            name,
            dims,
            INT32,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    }

    fn i64s(&mut self, name: &str, dims: &[usize], v: &[i64]) -> String {
        self.init(
            name,
            dims,
            INT64,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    }

    fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        let out = self.name(&op.to_lowercase());
        let mut n = NodeProto::new();
        n.op_type = op.to_string();
        n.name = out.clone();
        n.input = inputs.iter().map(|s| s.to_string()).collect();
        n.output = vec![out.clone()];
        for (name, a) in attrs {
            let mut p = AttributeProto::new();
            p.name = name.to_string();
            match a {
                Attr::Int(i) => {
                    p.type_ = AttributeType::INT.into();
                    p.i = i;
                }
                Attr::Ints(v) => {
                    p.type_ = AttributeType::INTS.into();
                    p.ints = v;
                }
                Attr::Float(f) => {
                    p.type_ = AttributeType::FLOAT.into();
                    p.f = f;
                }
            }
            n.attribute.push(p);
        }
        self.nodes.push(n);
        out
    }

    /// QuantizeLinear → DequantizeLinear with a per-tensor power-of-two scale `2^-exp`.
    fn qdq(&mut self, x: &str, exp: i8) -> String {
        let s = self.name("act_scale");
        let s = self.f32s(&s, &[], &[pow2(-(exp as i32))]);
        let zp = self.name("act_zero_point");
        let zp = self.i8s(&zp, &[], &[0]);
        let q = self.node("QuantizeLinear", &[x, &s, &zp], vec![]);
        self.node("DequantizeLinear", &[&q, &s, &zp], vec![])
    }

    /// A per-channel int8 weight behind DequantizeLinear along `axis`.
    fn dq_i8(&mut self, base: &str, dims: &[usize], v: &[i8], scales: &[f32], axis: i64) -> String {
        let w = self.i8s(&format!("{base}_quantized"), dims, v);
        let s = self.f32s(&format!("{base}_scale"), &[scales.len()], scales);
        let zp = self.i8s(
            &format!("{base}_zero_point"),
            &[scales.len()],
            &vec![0; scales.len()],
        );
        self.node(
            "DequantizeLinear",
            &[&w, &s, &zp],
            vec![("axis", Attr::Int(axis))],
        )
    }

    /// An int32 tensor behind DequantizeLinear along `axis` (no zero point, as for biases).
    fn dq_i32(
        &mut self,
        base: &str,
        dims: &[usize],
        v: &[i32],
        scales: &[f32],
        axis: i64,
    ) -> String {
        let w = self.i32s(&format!("{base}_quantized"), dims, v);
        let s = self.f32s(&format!("{base}_scale"), &[scales.len()], scales);
        self.node(
            "DequantizeLinear",
            &[&w, &s],
            vec![("axis", Attr::Int(axis))],
        )
    }

    fn activation(&mut self, x: &str, act: Act) -> String {
        match act {
            Act::Identity => x.to_string(),
            Act::Relu => self.node("Relu", &[x], vec![]),
            Act::Leaky(a) => self.node("LeakyRelu", &[x], vec![("alpha", Attr::Float(a))]),
            Act::Tanh => self.node("Tanh", &[x], vec![]),
        }
    }

    fn reshape(&mut self, x: &str, shape: [usize; 3]) -> String {
        let s = self.name("shape");
        let s = self.i64s(
            &s,
            &[4],
            &[-1, shape[0] as i64, shape[1] as i64, shape[2] as i64],
        );
        self.node("Reshape", &[x, &s], vec![])
    }

    fn flatten(&mut self, x: &str) -> String {
        self.node("Flatten", &[x], vec![("axis", Attr::Int(1))])
    }
}

fn pow2(e: i32) -> f32 {
    runtime_nostd::pow2(e)
}

fn value_info(name: &str, elem_type: i32, dims: &[Option<usize>]) -> ValueInfoProto {
    let mut shape = TensorShapeProto::new();
    for d in dims {
        let mut dim = tensor_shape_proto::Dimension::new();
        match d {
            Some(v) => dim.set_dim_value(*v as i64),
            None => dim.set_dim_param("N".into()),
        }
        shape.dim.push(dim);
    }
    let mut t = type_proto::Tensor::new();
    t.elem_type = elem_type;
    t.shape = Some(shape).into();
    let mut ty = TypeProto::new();
    ty.value = Some(type_proto::Value::TensorType(t));
    let mut v = ValueInfoProto::new();
    v.name = name.to_string();
    v.type_ = Some(ty).into();
    v
}

fn finish(
    spec: &GeneratorSpec,
    b: Builder,
    last: &str,
    kind: &str,
    extra: &[(&str, String)],
) -> Result<Vec<u8>, ExportError> {
    let mut g = GraphProto::new();
    g.name = format!("tinygan_{}_{kind}", spec.preset);
    g.node = b.nodes;
    g.initializer = b.inits;
    g.input
        .push(value_info("z", FLOAT, &[None, Some(spec.z_dim)]));
    if spec.num_classes > 0 {
        g.input.push(value_info("label", INT64, &[None]));
    }
    g.output.push(value_info(
        "image",
        FLOAT,
        &[None, Some(1), Some(28), Some(28)],
    ));
    // Rename the last node's output to `image`.
    if let Some(n) = g
        .node
        .iter_mut()
        .find(|n| n.output.first().map(String::as_str) == Some(last))
    {
        n.output[0] = "image".into();
    } else {
        let mut n = NodeProto::new();
        n.op_type = "Identity".into();
        n.input = vec![last.to_string()];
        n.output = vec!["image".into()];
        g.node.push(n);
    }
    let mut m = ModelProto::new();
    m.ir_version = IR_VERSION;
    m.producer_name = "tinygan-export".into();
    m.producer_version = env!("CARGO_PKG_VERSION").into();
    m.doc_string = format!("tinygan generator ({kind})");
    let mut opset = OperatorSetIdProto::new();
    opset.domain = String::new();
    opset.version = OPSET;
    m.opset_import.push(opset);
    let mut props = vec![
        ("preset", spec.preset.name().to_string()),
        ("objective", spec.objective.clone()),
        ("iteration", spec.iteration.to_string()),
        ("tinygan_version", env!("CARGO_PKG_VERSION").to_string()),
        ("z_dim", spec.z_dim.to_string()),
        ("num_classes", spec.num_classes.to_string()),
        ("precision", kind.to_string()),
    ];
    props.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
    for (k, v) in props {
        let mut e = StringStringEntryProto::new();
        e.key = k.into();
        e.value = v;
        m.metadata_props.push(e);
    }
    m.graph = Some(g).into();
    m.write_to_bytes().map_err(ExportError::Onnx)
}

/// The fp32 graph: Gemm / ConvTranspose with folded batch norm, activations, reshapes.
pub(crate) fn fp32(spec: &GeneratorSpec, ops: &[Fused]) -> Result<Vec<u8>, ExportError> {
    let mut b = Builder::default();
    let mut x = "z".to_string();
    let mut x_is_map = false;
    for (i, op) in ops.iter().enumerate() {
        match op.kind {
            Kind::Dense {
                in_features,
                out_features,
            } => {
                if x_is_map {
                    x = b.flatten(&x);
                }
                let conditional = i == 0 && spec.num_classes > 0;
                let in_z = if conditional { spec.z_dim } else { in_features };
                let mut w = Vec::with_capacity(out_features * in_z);
                for row in op.weight.chunks_exact(in_features) {
                    w.extend_from_slice(&row[..in_z]);
                }
                let wn = b.f32s(&format!("l{i}_weight"), &[out_features, in_z], &w);
                let bn = b.f32s(&format!("l{i}_bias"), &[out_features], &op.bias);
                x = b.node("Gemm", &[&x, &wn, &bn], vec![("transB", Attr::Int(1))]);
                if conditional {
                    // Label embedding: the one-hot columns of W, transposed to [classes, out].
                    let mut t = vec![0f32; spec.num_classes * out_features];
                    for o in 0..out_features {
                        for c in 0..spec.num_classes {
                            t[c * out_features + o] = op.weight[o * in_features + in_z + c];
                        }
                    }
                    let tn = b.f32s(
                        &format!("l{i}_label_weight"),
                        &[spec.num_classes, out_features],
                        &t,
                    );
                    let g = b.node("Gather", &[&tn, "label"], vec![("axis", Attr::Int(0))]);
                    x = b.node("Add", &[&x, &g], vec![]);
                }
            }
            Kind::ConvT { cin, cout, k, s, p } => {
                let wn = b.f32s(&format!("l{i}_weight"), &[cin, cout, k, k], &op.weight);
                let bn = b.f32s(&format!("l{i}_bias"), &[cout], &op.bias);
                x = b.node("ConvTranspose", &[&x, &wn, &bn], conv_attrs(k, s, p));
            }
        }
        x = b.activation(&x, op.act);
        let next_is_conv = ops
            .get(i + 1)
            .is_some_and(|n| matches!(n.kind, Kind::ConvT { .. }));
        x_is_map = matches!(op.kind, Kind::ConvT { .. });
        if !x_is_map && (next_is_conv || i + 1 == ops.len()) {
            x = b.reshape(&x, op.out_shape);
            x_is_map = true;
        }
    }
    finish(spec, b, &x, "fp32", &[])
}

fn conv_attrs(k: usize, s: usize, p: usize) -> Vec<(&'static str, Attr)> {
    let (k, s, p) = (k as i64, s as i64, p as i64);
    vec![
        ("kernel_shape", Attr::Ints(vec![k, k])),
        ("strides", Attr::Ints(vec![s, s])),
        ("pads", Attr::Ints(vec![p, p, p, p])),
        ("group", Attr::Int(1)),
    ]
}

/// The int8 QDQ graph: the same arithmetic as the blob (see `runtime_nostd::format`).
pub(crate) fn int8(spec: &GeneratorSpec, q: &QModel) -> Result<Vec<u8>, ExportError> {
    let mut b = Builder::default();
    let mut x = b.qdq("z", q.z_exp);
    let mut x_is_map = false;
    let n = q.layers.len();
    for (i, l) in q.layers.iter().enumerate() {
        let op = &l.fused;
        let cout = op.out_channels();
        let w_scales: Vec<f32> = l.w_exp.iter().map(|&e| pow2(-(e as i32))).collect();
        let b_scales: Vec<f32> = l
            .w_exp
            .iter()
            .map(|&e| pow2(-(e as i32) - l.in_exp as i32))
            .collect();
        match op.kind {
            Kind::Dense { out_features, .. } => {
                if x_is_map {
                    x = b.flatten(&x);
                }
                let in_z = l.wq.len() / out_features;
                let w = b.dq_i8(
                    &format!("l{i}_weight"),
                    &[out_features, in_z],
                    &l.wq,
                    &w_scales,
                    0,
                );
                if i == 0 && spec.num_classes > 0 {
                    x = b.node("Gemm", &[&x, &w], vec![("transB", Attr::Int(1))]);
                    // Class table (bias + label column), int32 at the bias scale.
                    let t = b.dq_i32(
                        &format!("l{i}_class_bias"),
                        &[spec.num_classes, out_features],
                        &l.bq,
                        &b_scales,
                        1,
                    );
                    let g = b.node("Gather", &[&t, "label"], vec![("axis", Attr::Int(0))]);
                    x = b.node("Add", &[&x, &g], vec![]);
                } else {
                    let bias = b.dq_i32(&format!("l{i}_bias"), &[cout], &l.bq, &b_scales, 0);
                    x = b.node("Gemm", &[&x, &w, &bias], vec![("transB", Attr::Int(1))]);
                }
            }
            Kind::ConvT { cin, cout, k, s, p } => {
                let w = b.dq_i8(
                    &format!("l{i}_weight"),
                    &[cin, cout, k, k],
                    &l.wq,
                    &w_scales,
                    1,
                );
                let bias = b.dq_i32(&format!("l{i}_bias"), &[cout], &l.bq, &b_scales, 0);
                x = b.node("ConvTranspose", &[&x, &w, &bias], conv_attrs(k, s, p));
            }
        }
        x = b.activation(&x, op.act);
        if i + 1 < n {
            x = b.qdq(&x, l.out_exp);
        }
        let next_is_conv = q
            .layers
            .get(i + 1)
            .is_some_and(|n| matches!(n.fused.kind, Kind::ConvT { .. }));
        x_is_map = matches!(op.kind, Kind::ConvT { .. });
        if !x_is_map && (next_is_conv || i + 1 == n) {
            x = b.reshape(&x, op.out_shape);
            x_is_map = true;
        }
    }
    finish(
        spec,
        b,
        &x,
        "int8",
        &[(
            "quantization",
            "QDQ; int8 symmetric power-of-two scales: weights per output channel, activations per \
             tensor (max-abs calibration), int32 bias at scale s_in*s_w; tanh in float"
                .to_string(),
        )],
    )
}
